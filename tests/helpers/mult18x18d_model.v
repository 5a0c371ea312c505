// Behavioural model of the subset of the Lattice ECP5 MULT18X18D that hw/_dsp.py
// instantiates, for simulating qmac's `<top>_dsp_ecp5.v` (Yosys ships only a blackbox of this
// primitive). Written for tests/hw/test_dsp.py from the documented behaviour of the sysDSP
// 18x18 multiplier (Lattice ECP5 sysDSP usage guide): optional input registers on A and B
// and an optional output register on P, each clocked by CLK0 with a selectable clock enable
// (CE0..CE3) and a synchronous reset (RST0..RST3, RESETMODE "SYNC"); SIGNEDA / SIGNEDB make
// the 18-bit operands two's complement; P is the 36-bit product. Anything else (the
// pipeline and C registers, other clocks, cascades, the shift-out chains, MULT_BYPASS,
// RESETMODE "ASYNC") is refused at time 0, so the model never silently models a feature
// it does not implement. Registers start at 0 (GSR "DISABLED" in qmac's instances).
`default_nettype none
module MULT18X18D(
    input wire A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
    input wire B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
    input wire C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
    input wire SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input wire CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    output wire P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
    output wire P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33,
    output wire P34, P35
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter GSR = "ENABLED";
    parameter RESETMODE = "SYNC";
    parameter MULT_BYPASS = "DISABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";

    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2,
                     A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2,
                     B1, B0};
    wire [3:0] ce = {CE3, CE2, CE1, CE0};
    wire [3:0] rst = {RST3, RST2, RST1, RST0};

    function integer sel;            // "CE2" / "RST2" -> 2
        input [8*3-1:0] name;
        sel = name[7:0] - "0";
    endfunction

    function supported_clk;
        input [8*4-1:0] name;
        supported_clk = (name == "NONE") || (name == "CLK0");
    endfunction

    initial begin
        if (!supported_clk(REG_INPUTA_CLK) || !supported_clk(REG_INPUTB_CLK)
                || !supported_clk(REG_OUTPUT_CLK) || REG_INPUTC_CLK != "NONE"
                || REG_PIPELINE_CLK != "NONE" || RESETMODE != "SYNC"
                || MULT_BYPASS != "DISABLED" || CAS_MATCH_REG != "FALSE") begin
            $display("MULT18X18D model: unsupported configuration");
            $finish(1);
        end
    end

    reg [17:0] a_q = 18'd0, b_q = 18'd0;
    reg [35:0] p_q = 36'd0;
    wire [17:0] a_in = (REG_INPUTA_CLK == "CLK0") ? a_q : a;
    wire [17:0] b_in = (REG_INPUTB_CLK == "CLK0") ? b_q : b;
    wire signed [18:0] a_ext = {SIGNEDA & a_in[17], a_in};
    wire signed [18:0] b_ext = {SIGNEDB & b_in[17], b_in};
    wire signed [37:0] product = a_ext * b_ext;
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
            P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1,
            P0} = (REG_OUTPUT_CLK == "CLK0") ? p_q : product[35:0];

    always @(posedge CLK0) begin
        if (rst[sel(REG_INPUTA_RST)]) a_q <= 18'd0;
        else if (ce[sel(REG_INPUTA_CE)]) a_q <= a;
        if (rst[sel(REG_INPUTB_RST)]) b_q <= 18'd0;
        else if (ce[sel(REG_INPUTB_CE)]) b_q <= b;
        if (rst[sel(REG_OUTPUT_RST)]) p_q <= 36'd0;
        else if (ce[sel(REG_OUTPUT_CE)]) p_q <= product[35:0];
    end
endmodule
`default_nettype wire
