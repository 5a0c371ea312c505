// qmac test harness: wraps the generated datapath top for the cocotb regression.
//
// Two ways to drive the DUT, selected by `fast_mode`:
//
// * cycle mode (fast_mode = 0): the DUT's stream ports are wired straight to the harness
//   ports of the same names (i_load__*, i_data__*, o_data__*), which cocotb's Driver and
//   Monitor (tb/streams.py) drive and sample every cycle. Used by the protocol tests.
// * fast mode (fast_mode = 1): a command engine replays a command memory loaded with
//   $fread from CMD_FILE (a binary image written by NumPy, tb/schedule.py: ceil(CMD_W/8)
//   bytes per word, most significant first) and captures every o_data
//   beat into an output memory, written with $writememh to OUT_FILE when the run is done.
//   cocotb only pulses `fast_go` and waits for `fast_done`; the simulator runs alone.
//
// The clock is generated here (no per-edge VPI callbacks). Verilator needs --timing.
//
// Command word (CMD_W bits): [1:0] kind, [CMD_W-1:2] payload.
//   kind 0 END   stop; `fast_done` rises once every expected o_data beat was captured.
//   kind 1 LOAD  payload = i_load payload {data, addr}, presented until i_load.ready.
//   kind 2 DATA  payload = i_data payload {last, first, tile, x}, presented until ready.
//   kind 3 GAP   payload[31:0] = n: no valid for max(n, 1) cycles (input-side bubbles).
// Output word (OUT_W bits) = the o_data payload {ovf, y}, in arrival order.
//
// Optional backpressure in fast mode: with bp_enable, o_data.ready is low in a cycle when
// the low byte of a 16-bit LFSR (seeded from bp_seed at fast_go) is below bp_threshold,
// i.e. with probability bp_threshold/256.
//
// Crossbar tops (hw/crossbar_datapath.py, docs/crossbar.md §3.1) have more ports: the
// programming stream o_prog__* and the analog macro's dac_* / adc_* ports. The harness has
// ports of the same names (widths PROG_W, DAC_W, DTILE_W, SEL_W, NADC, ADC_CODE_W) and
// connects them to the DUT by name (`.*`), so cocotb's behavioural crossbar
// (tb/crossbar_model.py, tb/xbar.py) drives adc_done/adc_code/o_prog__ready and samples the
// rest, in both modes. With a MAC-array top nothing matches them and they stay unconnected.
//
// Parameters are the DUT's port widths (docs/design.md); the DUT module name comes from the
// `QMAC_DUT` macro. Generated-by and the config are recorded by sim/runner.py in the build dir.

`ifndef QMAC_DUT
`define QMAC_DUT qmac_dut
`endif

module qmac_harness #(
    parameter int ADDR_BITS = 11,
    parameter int LOAD_DATA_BITS = 128,
    parameter int X_BITS = 128,
    parameter int TILE_BITS = 4,
    parameter int Y_BITS = 128,
    parameter int COLS = 16,
    parameter int CMD_AW = 16,
    parameter int OUT_AW = 16,
    parameter int HALF_PERIOD = 5,
    // crossbar tops only (docs/crossbar.md §3.1); unused with a MAC-array top
    parameter int PROG_W = 1,
    parameter int DAC_W = 1,
    parameter int DTILE_W = 1,
    parameter int SEL_W = 1,
    parameter int NADC = 1,
    parameter int ADC_CODE_W = 1
) (
    output logic clk,
    input  logic rst,
    // cycle-mode streams (same names as the DUT ports)
    input  logic i_load__valid,
    input  logic [ADDR_BITS+LOAD_DATA_BITS-1:0] i_load__payload,
    output logic i_load__ready,
    input  logic i_data__valid,
    input  logic [X_BITS+TILE_BITS+1:0] i_data__payload,
    output logic i_data__ready,
    output logic o_data__valid,
    output logic [Y_BITS+COLS-1:0] o_data__payload,
    input  logic o_data__ready,
    output logic [COLS-1:0] o_ovf_sticky,
    // fast-mode control and status
    input  logic fast_mode,
    input  logic fast_go,
    input  logic bp_enable,
    input  logic [15:0] bp_seed,
    input  logic [7:0] bp_threshold,
    output logic fast_busy,
    output logic fast_done,
    output logic fast_overrun,
    output logic fast_error,
    output logic [31:0] fast_out_count,
    output logic [31:0] fast_cycles,
    output logic [31:0] fast_stall_cycles,
    // crossbar tops: connected to the DUT's ports of the same names by `.*` (with a
    // MAC-array top they stay unconnected: undriven outputs, unused inputs)
    /* verilator lint_off UNDRIVEN */
    /* verilator lint_off UNUSEDSIGNAL */
    output logic o_prog__valid,
    output logic [PROG_W-1:0] o_prog__payload,
    input  logic o_prog__ready,
    output logic [DAC_W-1:0] dac_codes,
    output logic [DTILE_W-1:0] dac_tile,
    output logic dac_valid,
    output logic adc_start,
    output logic [SEL_W-1:0] adc_sel,
    input  logic [NADC-1:0] adc_done,
    input  logic [ADC_CODE_W-1:0] adc_code
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_on UNDRIVEN */
);
    localparam int LOAD_W = ADDR_BITS + LOAD_DATA_BITS;
    localparam int DATA_W = X_BITS + TILE_BITS + 2;
    localparam int PAYLOAD_W = (LOAD_W > DATA_W) ? LOAD_W : DATA_W;
    localparam int CMD_W = PAYLOAD_W + 2;
    localparam int OUT_W = Y_BITS + COLS;
    localparam int CMD_DEPTH = 1 << CMD_AW;
    localparam int OUT_DEPTH = 1 << OUT_AW;
    localparam logic [1:0] KIND_END = 2'd0;
    localparam logic [1:0] KIND_LOAD = 2'd1;
    localparam logic [1:0] KIND_DATA = 2'd2;
    localparam logic [1:0] KIND_GAP = 2'd3;

    // ---------------------------------------------------------------- clock
    initial clk = 1'b0;
    always #(HALF_PERIOD) clk = ~clk;

    // ---------------------------------------------------------------- file names
    string cmd_file;
    string out_file;
    initial begin
        if (!$value$plusargs("qmac_cmd=%s", cmd_file)) cmd_file = "qmac_cmd.bin";
        if (!$value$plusargs("qmac_out=%s", out_file)) out_file = "qmac_out.hex";
    end

    // ---------------------------------------------------------------- command engine
    logic [CMD_W-1:0] cmd_mem [0:CMD_DEPTH-1];
    logic [OUT_W-1:0] out_mem [0:OUT_DEPTH-1];

    logic [CMD_AW-1:0] ptr;
    logic running;
    logic go_q;
    logic [31:0] gap_cnt;
    logic [31:0] lasts_sent;
    logic [15:0] lfsr;

    // binary image, not $readmemh text: parsing hex digits cost more than simulating the
    // DUT for the same commands (Verilator, int8 16x16)
    // Load CMD_FILE into the command memory: 1 when it opened and held whole CMD_W-bit words
    // (anything else is an error, reported here, never a silently corrupt run).
    function automatic logic load_cmds();
        integer fd, nbytes;
        fd = $fopen(cmd_file, "rb");
        if (fd == 0) begin
            $display("qmac_harness: ERROR: cannot open command file %s", cmd_file);
            return 1'b0;
        end
        nbytes = $fread(cmd_mem, fd);
        $fclose(fd);
        if (nbytes <= 0 || nbytes % ((CMD_W + 7) / 8) != 0) begin
            $display("qmac_harness: ERROR: %s: %0d bytes, not whole %0d-byte command words",
                     cmd_file, nbytes, (CMD_W + 7) / 8);
            return 1'b0;
        end
        return 1'b1;
    endfunction

    logic [CMD_W-1:0] cmd;
    logic [1:0] kind;
    logic [PAYLOAD_W-1:0] payload;
    assign cmd = cmd_mem[ptr];
    assign kind = cmd[1:0];
    assign payload = cmd[CMD_W-1:2];

    logic eng_load_valid, eng_data_valid, eng_o_ready;
    assign eng_load_valid = running && (kind == KIND_LOAD);
    assign eng_data_valid = running && (kind == KIND_DATA);
    assign eng_o_ready = !bp_enable || (lfsr[7:0] >= bp_threshold);

    // ---------------------------------------------------------------- DUT
    logic dut_load_valid, dut_data_valid, dut_o_ready;
    logic [LOAD_W-1:0] dut_load_payload;
    logic [DATA_W-1:0] dut_data_payload;
    assign dut_load_valid = fast_mode ? eng_load_valid : i_load__valid;
    // payloads are zero while not valid: the command memory beyond the stream is undefined
    assign dut_load_payload = fast_mode ? (eng_load_valid ? payload[LOAD_W-1:0] : '0)
                                        : i_load__payload;
    assign dut_data_valid = fast_mode ? eng_data_valid : i_data__valid;
    assign dut_data_payload = fast_mode ? (eng_data_valid ? payload[DATA_W-1:0] : '0)
                                        : i_data__payload;
    assign dut_o_ready = fast_mode ? eng_o_ready : o_data__ready;

    `QMAC_DUT dut (
        .clk(clk),
        .rst(rst),
        .i_load__valid(dut_load_valid),
        .i_load__payload(dut_load_payload),
        .i_load__ready(i_load__ready),
        .i_data__valid(dut_data_valid),
        .i_data__payload(dut_data_payload),
        .i_data__ready(i_data__ready),
        .o_data__valid(o_data__valid),
        .o_data__payload(o_data__payload),
        .o_data__ready(dut_o_ready),
        .o_ovf_sticky(o_ovf_sticky),
        .*  // crossbar tops: o_prog__*, dac_*, adc_* (nothing else is left unconnected)
    );

    wire load_fire = eng_load_valid && i_load__ready;
    wire data_fire = eng_data_valid && i_data__ready;
    wire gap_done = running && (kind == KIND_GAP) && (gap_cnt + 32'd1 >= payload[31:0]);
    wire out_fire = fast_mode && o_data__valid && eng_o_ready;
    wire data_is_last = payload[DATA_W-1];

    always @(posedge clk) begin
        go_q <= fast_go;
        if (rst || !fast_mode || (fast_go && !go_q)) begin
            // reset, or the start of a run: clear the run's pointer and counters
            ptr <= '0;
            gap_cnt <= '0;
            lasts_sent <= '0;
            fast_out_count <= '0;
            fast_cycles <= '0;
            fast_stall_cycles <= '0;
            fast_overrun <= 1'b0;
            lfsr <= (rst || !fast_mode || bp_seed == 16'd0) ? 16'h1 : bp_seed;
            if (rst || !fast_mode) begin
                running <= 1'b0;
                fast_done <= 1'b0;
                fast_error <= 1'b0;
            end else begin
                // run; a command image that cannot be loaded ends the run at once, with an error
                {running, fast_error, fast_done} <= load_cmds() ? 3'b100 : 3'b011;
            end
        end else if (running) begin
            fast_cycles <= fast_cycles + 32'd1;
            lfsr <= {lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]};
            if (o_data__valid && !eng_o_ready) fast_stall_cycles <= fast_stall_cycles + 32'd1;
            if (load_fire || data_fire || gap_done) ptr <= ptr + 1'b1;
            if (load_fire || data_fire || gap_done) gap_cnt <= '0;
            else if (kind == KIND_GAP) gap_cnt <= gap_cnt + 32'd1;
            if (data_fire && data_is_last) lasts_sent <= lasts_sent + 32'd1;
            if (out_fire) begin
                if (fast_out_count < OUT_DEPTH) out_mem[fast_out_count[OUT_AW-1:0]] <= o_data__payload;
                else fast_overrun <= 1'b1;
                fast_out_count <= fast_out_count + 32'd1;
            end
            if (kind == KIND_END && fast_out_count == lasts_sent && !o_data__valid) begin
                running <= 1'b0;
                fast_done <= 1'b1;
                if (fast_out_count != 32'd0) begin
                    if (fast_out_count <= OUT_DEPTH) $writememh(out_file, out_mem, 0, fast_out_count - 32'd1);
                    else $writememh(out_file, out_mem, 0, OUT_DEPTH - 1);
                end
            end
        end
    end

    assign fast_busy = running;
endmodule
