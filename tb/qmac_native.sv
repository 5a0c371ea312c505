// qmac native run: the fast-path harness with no Python at all (the simulator's own limit).
//
// Resets the DUT, replays the command file (+qmac_cmd=...) once through the harness's
// command engine, dumps the captured outputs (+qmac_out=...), prints the cycle count and
// finishes. Used by `qmac bench` as the native reference (same DUT, same harness, same
// command stream as the cocotb fast path) and to check the harness without cocotb.
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
        .o_ovf_sticky(),
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

    // inputs change on the falling edge: no race with the harness's posedge logic
    initial begin
        repeat (4) @(negedge clk);
        rst = 1'b0;
        fast_mode = 1'b1;
        @(negedge clk);
        fast_go = 1'b1;
        @(negedge clk);
        while (!fast_done) @(negedge clk);
        $display("qmac_native: cycles=%0d outputs=%0d stalls=%0d error=%0d overrun=%0d",
                 fast_cycles, fast_out_count, fast_stall_cycles, fast_error, fast_overrun);
        $finish;
    end
endmodule
