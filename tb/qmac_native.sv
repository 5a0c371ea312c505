// qmac native run: the fast-path harness with no Python at all (the simulator's own limit).
//
// Resets the DUT, then either
//
// * (default) replays the command file (+qmac_cmd=...) once through the harness's command
//   engine, dumps the captured outputs (+qmac_out=...), prints the cycle count and
//   finishes — used by `qmac bench` as the native reference (same DUT, same harness, same
//   command stream as the cocotb fast path) and to check the harness without cocotb; or
// * with +qmac_serve, serves a sequence of command chunks in ONE process (`qmac run`'s
//   hardware step, sim/hwstep.py): each line on standard input is a chunk number k; the
//   chunk `<qmac_cmd>.<k>` is run (the DUT state — weights, open accumulations — carries
//   over from the previous chunk, as on the cocotb fast path), its outputs go to
//   `<qmac_out>.<k>`, and one line `qmac_serve: chunk=k cycles=... outputs=... ...` is
//   printed and flushed. End of input (or a line that is not a number) finishes.
//
// Parameters are forwarded to qmac_harness; BP_THRESHOLD > 0 enables LFSR backpressure.
// MAC-array tops only: a crossbar top needs the behavioural analog macro (tb/xbar.py).

module qmac_native #(
    parameter int ADDR_BITS = 11,
    parameter int LOAD_DATA_BITS = 128,
    parameter int X_BITS = 128,
    parameter int TILE_BITS = 4,
    parameter int Y_BITS = 128,
    parameter int COLS = 16,
    parameter int CMD_AW = 16,
    parameter int OUT_AW = 16,
    parameter int BP_THRESHOLD = 0
);
    logic clk;
    logic rst = 1'b1;
    logic fast_mode = 1'b0;
    logic fast_go = 1'b0;
    logic fast_done, fast_overrun, fast_error;
    logic [31:0] fast_out_count, fast_cycles, fast_stall_cycles;
    logic [COLS-1:0] ovf_sticky;

    // the pass-through ports are unused here (fast mode only)
    /* verilator lint_off PINCONNECTEMPTY */
    qmac_harness #(
        .ADDR_BITS(ADDR_BITS), .LOAD_DATA_BITS(LOAD_DATA_BITS), .X_BITS(X_BITS),
        .TILE_BITS(TILE_BITS), .Y_BITS(Y_BITS), .COLS(COLS), .CMD_AW(CMD_AW), .OUT_AW(OUT_AW)
    ) harness (
        .clk(clk), .rst(rst),
        .i_load__valid(1'b0), .i_load__payload('0), .i_load__ready(),
        .i_data__valid(1'b0), .i_data__payload('0), .i_data__ready(),
        .o_data__valid(), .o_data__payload(), .o_data__ready(1'b0),
        .o_ovf_sticky(ovf_sticky),
        .fast_mode(fast_mode), .fast_go(fast_go), .bp_enable(BP_THRESHOLD > 0),
        .bp_seed(16'hACE1), .bp_threshold(8'(BP_THRESHOLD)),
        .fast_busy(), .fast_done(fast_done), .fast_overrun(fast_overrun),
        .fast_error(fast_error), .fast_out_count(fast_out_count), .fast_cycles(fast_cycles),
        .fast_stall_cycles(fast_stall_cycles),
        // crossbar ports: not served here (no analog macro without Python; MAC tops only)
        .o_prog__valid(), .o_prog__payload(), .o_prog__ready(1'b1),
        .dac_codes(), .dac_tile(), .dac_valid(), .adc_start(), .adc_sel(),
        .adc_done('0), .adc_code('0)
    );
    /* verilator lint_on PINCONNECTEMPTY */

    localparam logic [31:0] STDIN = 32'h8000_0000;

    // one run of the command engine on the harness's current command file
    task automatic run_once();
        @(negedge clk);
        fast_go = 1'b1;
        @(negedge clk);
        while (!fast_done) @(negedge clk);
        fast_go = 1'b0;
    endtask

    // +qmac_serve: chunk numbers from standard input, one simulator process for all chunks
    task automatic serve();
        string cmd_base, out_base;
        int k;
        bit more = 1'b1;
        if (!$value$plusargs("qmac_cmd=%s", cmd_base)) cmd_base = "qmac_cmd.bin";
        if (!$value$plusargs("qmac_out=%s", out_base)) out_base = "qmac_out.hex";
        while (more) begin     // (no `break`: Icarus 11 does not have it)
            if ($fscanf(STDIN, "%d", k) != 1) begin
                more = 1'b0;
            end else begin
                harness.cmd_file = $sformatf("%s.%0d", cmd_base, k);
                harness.out_file = $sformatf("%s.%0d", out_base, k);
                run_once();
                $display("qmac_serve: chunk=%0d cycles=%0d outputs=%0d stalls=%0d error=%0d overrun=%0d sticky=%h",
                         k, fast_cycles, fast_out_count, fast_stall_cycles, fast_error,
                         fast_overrun, ovf_sticky);
                $fflush();
                @(negedge clk);    // fast_go low for a cycle: the next chunk starts on its edge
            end
        end
    endtask

    // inputs change on the falling edge: no race with the harness's posedge logic
    initial begin
        repeat (4) @(negedge clk);
        rst = 1'b0;
        fast_mode = 1'b1;
        if ($test$plusargs("qmac_serve")) begin
            serve();
        end else begin
            run_once();
            $display("qmac_native: cycles=%0d outputs=%0d stalls=%0d error=%0d overrun=%0d",
                     fast_cycles, fast_out_count, fast_stall_cycles, fast_error, fast_overrun);
        end
        $finish;
    end
endmodule
