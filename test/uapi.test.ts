// The DSL's io_uring tables against the real UAPI header (sid's linux-libc-dev, fetched by
// scripts/deps.sh): SQE/CQE field offsets and sizes, every IORING_OP_* value and the flag values are
// compiled into a C program with gcc and compared. Also: runtime/index.d.ts is generated from the table.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { CQE_FIELDS, SQE_FIELDS } from "../compiler/frontend/ring";
import { FLAGS, OPCODES } from "../compiler/frontend/uapi";
import { generated } from "../scripts/gen-dts";

const root = path.join(__dirname, "..");
const include = path.join(root, ".cache", "uringbpf", "sysroot", "usr", "include");
const haveHeaders = fs.existsSync(path.join(include, "linux", "io_uring.h"));
if (!haveHeaders && process.env.CI) throw new Error("UAPI headers missing: scripts/deps.sh build should have fetched them");

const C_SQE: Record<string, string> = {
  opcode: "opcode", flags: "flags", ioprio: "ioprio", fd: "fd", off: "off", addr2: "addr2", addr: "addr", len: "len",
  opFlags: "rw_flags", userData: "user_data", bufIndex: "buf_index", personality: "personality", spliceFdIn: "splice_fd_in", addr3: "addr3",
};
const C_CQE: Record<string, string> = { userData: "user_data", res: "res", flags: "flags" };
const SIZE_BYTES = { B: 1, H: 2, W: 4, DW: 8 } as const;

describe("UAPI tables", () => {
  it("runtime/index.d.ts holds the generated declarations", () => {
    expect(fs.readFileSync(path.join(root, "runtime", "index.d.ts"), "utf8")).toContain(generated());
  });

  it.skipIf(!haveHeaders)("match the kernel's io_uring.h", () => {
    const lines: string[] = [];
    for (const [k, c] of Object.entries(C_SQE)) lines.push(`P("sqe.${k}", offsetof(struct io_uring_sqe, ${c}), sizeof(((struct io_uring_sqe *)0)->${c}));`);
    for (const [k, c] of Object.entries(C_CQE)) lines.push(`P("cqe.${k}", offsetof(struct io_uring_cqe, ${c}), sizeof(((struct io_uring_cqe *)0)->${c}));`);
    OPCODES.forEach((o) => lines.push(`P("op.${o}", IORING_OP_${o}, 0);`));
    // Every constant of the table, wherever the kernel defines it (io_uring.h, fcntl.h, poll.h, bpf.h).
    for (const k of Object.keys(FLAGS)) lines.push(`P("flag.${k}", (long long)(${k}), 0);`);
    const src = `#include <stddef.h>\n#include <stdio.h>\n#include <fcntl.h>\n#include <poll.h>\n#include <linux/io_uring.h>\n#include <linux/bpf.h>\n#define P(n, a, b) printf("%s %lld %lld\\n", n, (long long)(a), (long long)(b))\nint main(void) {\n${lines.join("\n")}\nreturn 0;\n}\n`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uapi-"));
    fs.writeFileSync(path.join(dir, "u.c"), src);
    execFileSync("gcc", ["-I", include, "-o", path.join(dir, "u"), path.join(dir, "u.c")]);
    const out = new Map(execFileSync(path.join(dir, "u"), { encoding: "utf8" }).trim().split("\n").map((l) => {
      const [n, a, b] = l.split(" ");
      return [n, [BigInt(a), BigInt(b)]] as const;
    }));
    for (const [k, f] of Object.entries(SQE_FIELDS)) expect([`sqe.${k}`, out.get(`sqe.${k}`)]).toEqual([`sqe.${k}`, [BigInt(f.off), BigInt(SIZE_BYTES[f.size])]]);
    for (const [k, f] of Object.entries(CQE_FIELDS)) expect(out.get(`cqe.${k}`)).toEqual([BigInt(f.off), BigInt(SIZE_BYTES[f.size])]);
    OPCODES.forEach((o, i) => expect([o, out.get(`op.${o}`)?.[0]]).toEqual([o, BigInt(i)]));
    const flags = Object.entries(FLAGS);
    expect(flags.length).toBeGreaterThan(0);
    for (const [k, v] of flags) expect([k, out.get(`flag.${k}`)?.[0]]).toEqual([k, v]);
  });
});
