// axi_mem: a behavioural AXI4 slave memory for simulation (Icarus 11+, Verilator 5).
//
// Owns the external memory of the cocotb testbenches: byte array of MEM_BYTES, preloaded
// from a hex file, dumped back to a file when the `dump` pin rises, with a fixed latency and
// random stalls so that the DMA engines meet back-pressure without per-cycle Python.
//
// Parameters
//   ADDR_BITS, DATA_BITS, ID_BITS   bus geometry (DATA_BITS a power of two >= 8)
//   MEM_BYTES                       memory size; any beat at or above it answers SLVERR
//                                   (reads return 0, writes are dropped)
//   LATENCY                         cycles from an AR handshake to its first R beat and from
//                                   the last W beat of a burst to its B (at least 2)
//   STALL_PCT                       percentage of cycles each of ARREADY, RVALID, AWREADY,
//                                   WREADY, BVALID is withheld (seeded xorshift; 0: none)
//   SEED                            stall generator seed (non-zero)
//   QUEUE                           address requests accepted ahead of their data (a power
//                                   of two)
// Plusargs (override the parameters at run time, no rebuild)
//   +AXI_MEM_INIT=<file>            $readmemh the memory (one byte per word, address order;
//                                   `@addr` lines allowed); the rest stays 0
//   +AXI_MEM_DUMP=<file>            where a rising edge of `dump` writes the memory
//                                   ($writememh, one byte per line)
//   +AXI_MEM_DUMP_BASE=<n> +AXI_MEM_DUMP_BYTES=<n>   the byte range dumped (default: all)
//   +AXI_MEM_STALL=<pct> +AXI_MEM_SEED=<n> +AXI_MEM_LATENCY=<n>
// Bursts are treated as INCR of `size` bytes per beat on DATA_BITS-aligned lanes (the DMA
// engines issue nothing else); responses come back in order of the requests.
`timescale 1ns/1ps
`default_nettype none
/* verilator lint_off WIDTHEXPAND */
/* verilator lint_off WIDTHTRUNC */
/* verilator lint_off BLKSEQ */
/* verilator lint_off UNUSEDSIGNAL */

module axi_mem #(
    parameter integer ADDR_BITS = 32,
    parameter integer DATA_BITS = 64,
    parameter integer ID_BITS = 2,
    parameter integer MEM_BYTES = 65536,
    parameter integer LATENCY = 4,
    parameter integer STALL_PCT = 0,
    parameter integer SEED = 1,
    parameter integer QUEUE = 8
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire                   dump,
    // write address
    input  wire [ID_BITS-1:0]     s_axi_awid,
    input  wire [ADDR_BITS-1:0]   s_axi_awaddr,
    input  wire [7:0]             s_axi_awlen,
    input  wire [2:0]             s_axi_awsize,
    input  wire [1:0]             s_axi_awburst,
    input  wire                   s_axi_awvalid,
    output wire                   s_axi_awready,
    // write data
    input  wire [DATA_BITS-1:0]   s_axi_wdata,
    input  wire [DATA_BITS/8-1:0] s_axi_wstrb,
    input  wire                   s_axi_wlast,
    input  wire                   s_axi_wvalid,
    output wire                   s_axi_wready,
    // write response
    output reg  [ID_BITS-1:0]     s_axi_bid,
    output reg  [1:0]             s_axi_bresp,
    output reg                    s_axi_bvalid,
    input  wire                   s_axi_bready,
    // read address
    input  wire [ID_BITS-1:0]     s_axi_arid,
    input  wire [ADDR_BITS-1:0]   s_axi_araddr,
    input  wire [7:0]             s_axi_arlen,
    input  wire [2:0]             s_axi_arsize,
    input  wire [1:0]             s_axi_arburst,
    input  wire                   s_axi_arvalid,
    output wire                   s_axi_arready,
    // read data
    output reg  [ID_BITS-1:0]     s_axi_rid,
    output reg  [DATA_BITS-1:0]   s_axi_rdata,
    output reg  [1:0]             s_axi_rresp,
    output reg                    s_axi_rlast,
    output reg                    s_axi_rvalid,
    input  wire                   s_axi_rready
);
    localparam integer BYTES = DATA_BITS / 8;
    localparam [1:0] OKAY = 2'b00, SLVERR = 2'b10;

    reg [7:0] mem [0:MEM_BYTES-1];

    // ------------------------------------------------------------------ run-time options
    reg [8*512-1:0] init_file, dump_file;
    reg             have_dump;
    integer         dump_base, dump_bytes, stall_pct, latency, seed, i;
    initial begin
        for (i = 0; i < MEM_BYTES; i = i + 1) mem[i] = 8'h00;
        stall_pct = STALL_PCT;
        latency = LATENCY;
        seed = SEED;
        dump_base = 0;
        dump_bytes = MEM_BYTES;
        if ($value$plusargs("AXI_MEM_STALL=%d", stall_pct)) ;
        if ($value$plusargs("AXI_MEM_LATENCY=%d", latency)) ;
        if ($value$plusargs("AXI_MEM_SEED=%d", seed)) ;
        if ($value$plusargs("AXI_MEM_DUMP_BASE=%d", dump_base)) ;
        if ($value$plusargs("AXI_MEM_DUMP_BYTES=%d", dump_bytes)) ;
        if (latency < 2) latency = 2;
        if (QUEUE != (1 << $clog2(QUEUE))) $fatal(1, "axi_mem: QUEUE must be a power of two");
        if (seed == 0) seed = 1;
        have_dump = $value$plusargs("AXI_MEM_DUMP=%s", dump_file);
        if ($value$plusargs("AXI_MEM_INIT=%s", init_file)) $readmemh(init_file, mem);
    end

    // ------------------------------------------------------------------ time, stalls
    reg [63:0] cycle;
    reg [31:0] rnd_a, rnd_b;
    reg        stall_ar, stall_r, stall_aw, stall_w, stall_b;
    function automatic [31:0] xorshift(input [31:0] x);
        reg [31:0] y;
        begin
            y = x ^ (x << 13);
            y = y ^ (y >> 17);
            xorshift = y ^ (y << 5);
        end
    endfunction
    function automatic stall(input [7:0] r);
        stall = ({24'd0, r} * 100) < (stall_pct * 256);
    endfunction
    always @(posedge clk) begin
        if (rst) begin
            cycle <= 64'd0;
            rnd_a <= seed;
            rnd_b <= seed ^ 32'h9E3779B9;
            {stall_ar, stall_r, stall_aw, stall_w, stall_b} <= 5'b0;
        end else begin
            cycle <= cycle + 64'd1;
            rnd_a <= xorshift(rnd_a);
            rnd_b <= xorshift(rnd_b);
            stall_ar <= stall(rnd_a[7:0]);
            stall_r  <= stall(rnd_a[15:8]);
            stall_aw <= stall(rnd_a[23:16]);
            stall_w  <= stall(rnd_a[31:24]);
            stall_b  <= stall(rnd_b[7:0]);
        end
    end

    // ------------------------------------------------------------------ dump
    reg dump_q;
    always @(posedge clk) begin
        dump_q <= dump;
        if (dump && !dump_q && have_dump)
            $writememh(dump_file, mem, dump_base, dump_base + dump_bytes - 1);
    end

    // ------------------------------------------------------------------ reads
    localparam integer QB = $clog2(QUEUE);
    reg [ADDR_BITS-1:0] ar_addr [0:QUEUE-1];
    reg [7:0]           ar_len  [0:QUEUE-1];
    reg [2:0]           ar_size [0:QUEUE-1];
    reg [ID_BITS-1:0]   ar_id   [0:QUEUE-1];
    reg [63:0]          ar_time [0:QUEUE-1];
    reg [QB-1:0]        ar_head, ar_tail;
    reg [QB:0]          ar_count;
    reg [7:0]           r_beat;
    reg [ADDR_BITS-1:0] r_addr;
    reg                 ar_push, ar_pop;
    integer             j;

    assign s_axi_arready = (ar_count < QUEUE) && !stall_ar;

    always @(posedge clk) begin
        if (rst) begin
            ar_head <= 0;
            ar_tail <= 0;
            ar_count <= 0;
            r_beat <= 8'd0;
            s_axi_rvalid <= 1'b0;
        end else begin
            ar_push = s_axi_arvalid && s_axi_arready;
            ar_pop = 1'b0;
            if (ar_push) begin
                ar_addr[ar_tail] <= s_axi_araddr;
                ar_len[ar_tail]  <= s_axi_arlen;
                ar_size[ar_tail] <= s_axi_arsize;
                ar_id[ar_tail]   <= s_axi_arid;
                ar_time[ar_tail] <= cycle;
                ar_tail <= ar_tail + 1'b1;
            end
            if (!s_axi_rvalid || s_axi_rready) begin
                if (ar_count != 0 && cycle + 1 >= ar_time[ar_head] + latency && !stall_r) begin
                    r_addr = (ar_addr[ar_head] >> ar_size[ar_head] << ar_size[ar_head])
                           + ({{(ADDR_BITS-8){1'b0}}, r_beat} << ar_size[ar_head]);
                    s_axi_rvalid <= 1'b1;
                    s_axi_rid <= ar_id[ar_head];
                    s_axi_rlast <= (r_beat == ar_len[ar_head]);
                    if (r_addr >= MEM_BYTES) begin
                        s_axi_rresp <= SLVERR;
                        s_axi_rdata <= {DATA_BITS{1'b0}};
                    end else begin
                        s_axi_rresp <= OKAY;
                        for (j = 0; j < BYTES; j = j + 1)
                            s_axi_rdata[8*j +: 8] <= mem[(r_addr & ~(BYTES - 1)) + j];
                    end
                    if (r_beat == ar_len[ar_head]) begin
                        r_beat <= 8'd0;
                        ar_head <= ar_head + 1'b1;
                        ar_pop = 1'b1;
                    end else begin
                        r_beat <= r_beat + 8'd1;
                    end
                end else begin
                    s_axi_rvalid <= 1'b0;
                end
            end
            ar_count <= ar_count + ar_push - ar_pop;
        end
    end

    // ------------------------------------------------------------------ writes
    reg [ADDR_BITS-1:0] aw_addr [0:QUEUE-1];
    reg [7:0]           aw_len  [0:QUEUE-1];
    reg [2:0]           aw_size [0:QUEUE-1];
    reg [ID_BITS-1:0]   aw_id   [0:QUEUE-1];
    reg [QB-1:0]        aw_head, aw_tail;
    reg [QB:0]          aw_count;
    reg [7:0]           w_beat;
    reg [ADDR_BITS-1:0] w_addr;
    reg                 w_err;
    reg [ID_BITS-1:0]   b_id   [0:QUEUE-1];
    reg [1:0]           b_resp [0:QUEUE-1];
    reg [63:0]          b_time [0:QUEUE-1];
    reg [QB-1:0]        b_head, b_tail;
    reg [QB:0]          b_count;
    reg                 aw_push, aw_pop, b_push, b_pop, beat_err;

    assign s_axi_awready = (aw_count < QUEUE) && !stall_aw;
    assign s_axi_wready = (aw_count != 0) && (b_count < QUEUE) && !stall_w;

    always @(posedge clk) begin
        if (rst) begin
            aw_head <= 0;
            aw_tail <= 0;
            aw_count <= 0;
            b_head <= 0;
            b_tail <= 0;
            b_count <= 0;
            w_beat <= 8'd0;
            w_err <= 1'b0;
            s_axi_bvalid <= 1'b0;
        end else begin
            aw_push = s_axi_awvalid && s_axi_awready;
            aw_pop = 1'b0;
            b_push = 1'b0;
            b_pop = 1'b0;
            if (aw_push) begin
                aw_addr[aw_tail] <= s_axi_awaddr;
                aw_len[aw_tail]  <= s_axi_awlen;
                aw_size[aw_tail] <= s_axi_awsize;
                aw_id[aw_tail]   <= s_axi_awid;
                aw_tail <= aw_tail + 1'b1;
            end
            if (s_axi_wvalid && s_axi_wready) begin
                w_addr = (aw_addr[aw_head] >> aw_size[aw_head] << aw_size[aw_head])
                       + ({{(ADDR_BITS-8){1'b0}}, w_beat} << aw_size[aw_head]);
                beat_err = w_addr >= MEM_BYTES;
                if (!beat_err)
                    for (j = 0; j < BYTES; j = j + 1)
                        if (s_axi_wstrb[j])
                            mem[(w_addr & ~(BYTES - 1)) + j] <= s_axi_wdata[8*j +: 8];
                if (s_axi_wlast || w_beat == aw_len[aw_head]) begin
                    b_id[b_tail] <= aw_id[aw_head];
                    b_resp[b_tail] <= (w_err || beat_err) ? SLVERR : OKAY;
                    b_time[b_tail] <= cycle;
                    b_tail <= b_tail + 1'b1;
                    b_push = 1'b1;
                    aw_head <= aw_head + 1'b1;
                    aw_pop = 1'b1;
                    w_beat <= 8'd0;
                    w_err <= 1'b0;
                end else begin
                    w_beat <= w_beat + 8'd1;
                    w_err <= w_err || beat_err;
                end
            end
            if (!s_axi_bvalid || s_axi_bready) begin
                if (b_count != 0 && cycle + 1 >= b_time[b_head] + latency && !stall_b) begin
                    s_axi_bvalid <= 1'b1;
                    s_axi_bid <= b_id[b_head];
                    s_axi_bresp <= b_resp[b_head];
                    b_head <= b_head + 1'b1;
                    b_pop = 1'b1;
                end else begin
                    s_axi_bvalid <= 1'b0;
                end
            end
            aw_count <= aw_count + aw_push - aw_pop;
            b_count <= b_count + b_push - b_pop;
        end
    end
endmodule

/* verilator lint_on UNUSEDSIGNAL */
/* verilator lint_on BLKSEQ */
/* verilator lint_on WIDTHTRUNC */
/* verilator lint_on WIDTHEXPAND */
`default_nettype wire
