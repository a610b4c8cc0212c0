// The engine reads objects as libbpf does (runtime/engine/image.ts over compiler/elf/reader.ts): a clang
// object's globals at their symbol-table offsets although its BTF DATASEC says 0, section-symbol
// relocations, string literals, custom data sections, calls into .text; an object without what the
// contract needs is refused with a message naming it; a broken one is a clear error, not a crash.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { runInEngine } from "../cli/engine";
import type { RunReport } from "../cli/report";
import { readObject } from "../compiler/elf/reader";
import { checkRunnable, ImageError, loadImage } from "../runtime/engine/image";

const root = path.join(__dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-image-"));
const clang = (src: string, out: string, ...defs: string[]) => {
  execFileSync("clang", ["-O2", "-g", "-target", "bpf", "-mcpu=v3", ...defs, "-c", path.join(root, "test", "fixtures", "c", src), "-o", path.join(tmp, out)]);
  return path.join(tmp, out);
};
const engine = (file: string, flags: Parameters<typeof runInEngine>[1] = {}) => {
  let out = "";
  const exit = runInEngine(file, { ...flags, json: true }, { out: (s) => (out += s), err: () => {} });
  return { exit, r: JSON.parse(out) as RunReport };
};

describe("a clang object in the engine's image", () => {
  it("has its globals at the symbol table's offsets, though clang's DATASEC says 0", () => {
    const file = clang("nops.c", "nops.o");
    const bytes = fs.readFileSync(file);
    const obj = readObject(bytes);
    const bss = obj.btf.find((t) => t.kind === "DATASEC" && t.name === ".bss")!;
    expect(bss.vars!.map((v) => v.offset)).toEqual([0, 0, 0]); // what clang writes
    const img = loadImage(bytes);
    const at = Object.fromEntries(img.globals.filter((g) => g.section === ".bss").map((g) => [g.name, [g.offset, g.size]]));
    expect(at).toEqual({ reqsToRun: [0, 4], result: [4, 4], inflight: [8, 4] });
    expect(img.globals.filter((g) => g.section === ".rodata").map((g) => g.offset)).toEqual([0, 4, 8, 12, 16, 20, 24]);
    expect(img.structOps).toEqual([{ name: "nops_ops", section: ".struct_ops.link", program: "nops" }]);
    expect(checkRunnable(img).name).toBe("nops");
  });

  it("runs every section and relocation kind clang emitted for shapes.c with C's results", () => {
    const { exit, r } = engine(clang("shapes.c", "shapes.o"), { trace: true });
    expect(exit).toBe(0);
    expect(r.globals).toEqual({
      first: 0x11223344, second: "6153737369425722316", seeded: 42, custom: 21, tweak: 3,
      result_a: 6, result_b: 2, result_call: 43, hidden_a: 6, hidden_b: 2,
    });
    expect(r.trace).toEqual(["shapes 42", "literal 21"]);
  });

  it("refuses an object without a struct_ops variable for the program, naming it", () => {
    const { exit, r } = engine(clang("shapes.c", "noops.o", "-DNO_OPS"));
    expect([exit, r.stage]).toEqual([1, "open"]);
    expect(r.error).toBe("no struct_ops map points at shapes: the object needs a struct io_uring_bpf_ops variable in section .struct_ops.link whose loop_step is shapes");
    expect(() => checkRunnable(loadImage(fs.readFileSync(path.join(tmp, "noops.o"))))).toThrow(ImageError);
  });

  it("a truncated or corrupted object is a clear error (exit 1, stage open), never a crash", () => {
    const bytes = fs.readFileSync(clang("nops.c", "nops2.o"));
    const cut = path.join(tmp, "cut.o");
    fs.writeFileSync(cut, bytes.subarray(0, 300));
    const a = engine(cut);
    expect([a.exit, a.r.stage]).toEqual([1, "open"]);
    expect(a.r.error).toMatch(/truncated/);
    // A relocation moved off its instruction: named, with the section and offset.
    const obj = readObject(bytes);
    const rel = obj.sections.find((s) => s.name === ".relstruct_ops.s/nops")!;
    const bad = Buffer.from(bytes);
    bad.writeBigUInt64LE(BigInt(bad.readBigUInt64LE(rel.offset)) + 4n, rel.offset);
    fs.writeFileSync(cut, bad);
    const b = engine(cut);
    expect([b.exit, b.r.stage]).toEqual([1, "open"]);
    expect(b.r.error).toMatch(/^relocation at struct_ops.s\/nops\+\d+ is not at the start of an instruction$/);
  });
});
