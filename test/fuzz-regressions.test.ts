// One test per crash class the fuzz harness (fuzz/, `npm run fuzz`) found: each input that once threw,
// overflowed the stack or crashed a consumer now gets a numbered diagnostic with its position, or a clean
// rejection. And the names that reach the object (issue 15): C identifiers only, each used once.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileSource, formatDiagnostics, type CompileResult } from "../compiler/index";
import { ObjectFormatError, readObject } from "../compiler/elf/reader";
import { MAX_CHAIN, MAX_NESTING } from "../compiler/frontend/limits";
import { parseProgram, stackOverflowAt } from "../compiler/frontend/program";
import { runUserEngine } from "../runtime/engine/driver";
import { decodeValue, ImageError, resolveType } from "../runtime/engine/image";
import { ExecutionError } from "../runtime/engine/interp";
import { hostileObjects } from "../fuzz/hostile";
import { simulatedAddon } from "../fuzz/simring";
import { runJob } from "../fuzz/worker";
import { sites, withField } from "./support/objmutate";

const H = `import { loopStep, u8, u32, u64, STOP, FixedArray } from "uringbpf";\n`;
const prog = (body: string, top = "") => `${H}${top}export let x: u32 = 1;\nexport const p = loopStep((ring, lp) => {\n${body}\n  return STOP;\n});\n`;

/** The first diagnostic as `UBPFcode line:col`, after checking the compile did not throw. */
function first(src: string, typeCheck = true): { code: number; where: string; message: string; res: CompileResult } {
  const res = compileSource("t.ts", src, { typeCheck });
  expect(res.ok).toBe(false);
  const d = res.diagnostics[0];
  return { code: d.code, where: d.range ? `${d.range.line}:${d.range.col}` : "-", message: d.message, res };
}

describe("deep input gives a diagnostic, not a stack overflow", () => {
  it.each([
    ["2,000 parentheses", prog(`  x = ${"(".repeat(2000)}x${")".repeat(2000)};`), "4:205"],
    ["500 nested conversions", prog(`  x = ${"u32(".repeat(500)}x${")".repeat(500)};`), "4:802"],
    ["1,000 nested blocks", prog(`${"{ ".repeat(1000)}x = 1;${" }".repeat(1000)}`), "4:397"],
    ["2,000 chained conditionals", prog(`  x = ${"x ? 1 : ".repeat(2000)}0;`), "4:1535"],
  ])("%s: UBPF3004 at the level past the limit", (_, src, where) => {
    const d = first(src);
    expect([d.code, d.where]).toEqual([3004, where]);
    expect(d.message).toContain(`more than ${MAX_NESTING} levels`);
  });

  // Nesting without brackets, too deep for TypeScript's parser (it overflows its stack before there is a
  // tree): UBPF3004 at the token where the nesting passes the limit, with the line and an underline. (Sizes
  // far past the parser's stack: near it, whether the parser overflows depends on the caller's stack.)
  const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join("\n");
  it.each([
    ["16,000 nested ifs on one line", prog(`${"if (x) ".repeat(16000)}x = 1;`), "4:1373", "if"],
    ["20,000 nested ifs, one a line", prog(lines(20000, () => "  if (x)") + " x = 1;"), "200:3", "if"],
    ["20,000 else-if", prog(lines(20000, (i) => `  ${i ? "else " : ""}if (x == ${i}) x = ${i + 1};`)), "199:24", "="],
    ["20,000 chained conditionals", prog(`  x = ${"x ? 1 : ".repeat(20000)}0;`), "4:1569", "?"],
    ["20,000 conditionals, one a line", prog(`  x = ${"x ? 1 :\n".repeat(20000)}0;`), "199:3", "?"],
    ["20,000 prefix operators", prog(`  x = ${"~".repeat(20000)}x;`), "4:202", "~"],
    ["20,000 negations", prog(`  if (${"!".repeat(20000)}x) x = 0;`), "4:201", "!"],
    ["50,000 chained assignments", prog(`  let y: u32 = 0;\n  x = ${"y = ".repeat(50000)}1;`), "5:789", "="],
    ["30,000 nested arrows", prog(`  const f = ${"(a: u32) => ".repeat(30000)}1;`), "4:2362", "=>"],
    ["30,000 nested while", prog(`${"while (x) ".repeat(30000)}x = 0;`), "4:1961", "while"],
    ["10,000 labels", prog(`${lines(10000, (i) => `l${i}:`).replace(/\n/g, " ")} x = 1;`), "4:1071", ":"],
  ])("%s: UBPF3004 with its position, line and underline", (_, src, where, token) => {
    for (const typeCheck of [true, false]) {
      const d = first(src, typeCheck);
      expect([d.code, d.where]).toEqual([3004, where]);
      expect(d.message).toContain(`more than ${MAX_NESTING} levels`);
      const r = d.res.diagnostics[0].range!;
      expect(r.lineText.slice(r.col - 1, r.col - 1 + r.length)).toBe(token);
      const text = formatDiagnostics(d.res.diagnostics);
      expect(text).toContain(`t.ts:${where} - error UBPF3004`);
      expect(text).toContain(r.lineText.slice(0, 40));
      expect(text).toMatch(new RegExp(`\\n\\s+${"~".repeat(r.length)}\\n`));
    }
  });

  it.each([
    ["3,000 nested type arguments", prog(`  let t: ${"Array<".repeat(3000)}u32${">".repeat(3000)};`)],
  ])("%s (nesting the token estimate does not count): UBPF3004 where the parser's stack runs out", (_, src) => {
    for (const typeCheck of [true, false]) {
      const d = first(src, typeCheck);
      expect(d.code).toBe(3004);
      const r = d.res.diagnostics[0].range!;
      expect([r.file, r.line]).toEqual(["t.ts", 4]);
      expect(r.col).toBeGreaterThan(100);
      expect(r.lineText.length).toBeGreaterThan(r.col);
      expect(formatDiagnostics(d.res.diagnostics)).toMatch(/t\.ts:4:\d+ - error UBPF3004[^]*\n\s+~\n/);
    }
  });

  it("a stack overflow in a later stage points at the file's deepest node", () => {
    const text = prog(`  x = (x + (x * (x - 7)));`);
    const { sf } = parseProgram("t.ts", text);
    const d = stackOverflowAt("t.ts", text, sf.compilerNode);
    expect([d.code, d.range?.line, d.range?.col, d.range?.lineText.slice(d.range.col - 1, d.range.col - 1 + d.range.length)]).toEqual([3004, 4, 22, "7"]);
  });

  it("150 else-if branches, 150 unbraced ifs and a 150-term conditional chain still compile", () => {
    expect(compileSource("t.ts", prog(lines(150, (i) => `  ${i ? "else " : ""}if (x == ${i}) x = ${i + 1};`))).ok).toBe(true);
    expect(compileSource("t.ts", prog(`${"if (x) ".repeat(150)}x = 1;`)).ok).toBe(true);
    expect(compileSource("t.ts", prog(`  x = ${"x ? 1 : ".repeat(150)}0;`)).ok).toBe(true);
  }, 60_000);

  it("a 10,000-term sum: UBPF3005 at the expression; one of 1,500 terms compiles", () => {
    const d = first(prog(`  x = ${Array(10000).fill("x").join(" + ")};`));
    expect([d.code, d.where]).toEqual([3005, "4:7"]);
    expect(compileSource("t.ts", prog(`  x = ${Array(MAX_CHAIN).fill("x").join(" + ")};`)).ok).toBe(true);
  }, 60_000);

  it("200 levels of nesting still compile", () => {
    expect(compileSource("t.ts", prog(`  x = ${"(".repeat(190)}x${")".repeat(190)};`)).ok).toBe(true);
  });
});

describe("names of Object.prototype's properties are names like any other", () => {
  // The front end's tables (constants, helpers, atomics, map constructors, SQE/CQE fields, prep methods)
  // were plain objects: `toString` found Object.prototype.toString (the harness's seed 1: STOP renamed to
  // toString under --no-typecheck gave "internal compiler error: Cannot convert function to a BigInt").
  it.each([
    ["an imported constant", `import { loopStep, toString } from "uringbpf";\nexport const p = loopStep((ring, lp) => toString);\n`],
    ["an imported helper", `import { loopStep, STOP, u32, constructor } from "uringbpf";\nexport let x: u32 = 1;\nexport const p = loopStep((ring, lp) => { x = constructor(x); return STOP; });\n`],
    ["an imported map constructor", `import { loopStep, STOP, valueOf } from "uringbpf";\nexport const m = valueOf(4);\nexport const p = loopStep((ring, lp) => STOP);\n`],
    ["an SQE field", prog(`  x = ring.sqe(0).toString;`)],
    ["a CQE field", prog(`  ring.cqe(0).hasOwnProperty = 1;`)],
    ["a prep method", prog(`  ring.sqe(0).constructor(1);`)],
  ])("%s: a diagnostic at the place, not an internal error", (_, src) => {
    for (const typeCheck of [true, false]) {
      const res = compileSource("t.ts", src, { typeCheck });
      expect(res.ok).toBe(false);
      expect(res.diagnostics.map((d) => d.code)).not.toContain(9001);
      expect(res.diagnostics[0].range, formatDiagnostics(res.diagnostics)).toBeDefined();
    }
  });
});

describe("--no-typecheck still runs the checks later stages rely on", () => {
  it("a non-literal import specifier: UBPF2010 (ts-morph threw)", () => {
    const d = first(`import { loopStep, STOP } from x;\nexport const p = loopStep((ring, lp) => STOP);\n`, false);
    expect([d.code, d.where]).toEqual([2010, "1:1"]);
  });

  it("a syntax error: reported as the TypeScript error it is", () => {
    const d = first(prog(`  x = (x + ;`), false);
    expect([d.code, d.where]).toEqual([1000, "4:12"]);
    expect(d.message).toMatch(/TS1109/);
  });

  it("duplicate declarations: UBPF2029 naming the first (the ELF writer threw 'two symbols named r')", () => {
    const d = first(`${H}export let r: u32 = 1;\nexport let r: u32 = 2;\nexport const p = loopStep((ring, lp) => { r = 3; return STOP; });\n`, false);
    expect([d.code, d.where]).toEqual([2029, "3:12"]);
    expect(d.message).toContain("'r' is also defined by line 2");
  });
});

describe("internal limits are numbered diagnostics", () => {
  it("65,536 globals: UBPF3006 at the first one BTF cannot count ('BTF vlen 65536 too large')", () => {
    const src = `${H}${Array.from({ length: 65536 }, (_, i) => `export let g${i}: u8 = 1;`).join("\n")}\nexport const p = loopStep((ring, lp) => { g0 = 2; return STOP; });\n`;
    const d = first(src, false);
    expect([d.code, d.where]).toEqual([3006, "65537:12"]);
  }, 120_000);

  it("a MEM struct past 256 MiB: UBPF3007 ('BTF word out of range')", () => {
    const d = first(prog(`  const m = ring.mem<M>()!;\n  m.a[0][0] = 1n;`, `interface M { a: FixedArray<FixedArray<u64, 1048576>, 1048576>; }\n`));
    expect([d.code, d.where]).toEqual([3007, "2:18"]);
  });

  it.each([
    ["1n << 100000000n", "constant shift count out of range", 2026],
    ["(1n << 63n) * (1n << 63n)", "does not fit in 64 bits", 2020],
    ["123456789012345678901234567890n", "does not fit in 64 bits", 2020],
  ])("constant folding stays in 64 bits: %s ('Maximum BigInt size exceeded')", (e, text, code) => {
    const d = first(prog(`  x = u32(${e});`));
    expect([d.code, d.where]).toEqual([code, "4:11"]);
    expect(d.message).toContain(text);
  });

  it("a NUL byte in a source line: compiles, and line_info shows it as \\0", () => {
    const res = compileSource("t.ts", prog(`  x = 2; // a NUL \0 byte`));
    expect(res.ok).toBe(true);
    const lines = readObject(res.object!).btfExt!.lines.map((l) => l.text);
    expect(lines).toContain("  x = 2; // a NUL \\0 byte");
  });

  it("a jump farther than 32,767 instructions: UBPF3008 naming the function ('jump out of range')", () => {
    const d = first(prog(`  if (x) {\n${"    x = x * 3 + y;\n    y = y ^ (x >> 3);\n".repeat(10000)}  }`, "export let y: u32 = 2;\n"), false);
    expect([d.code, d.where]).toEqual([3008, "4:14"]);
    expect(d.message).toMatch(/^function too large for BPF jumps: p needs a jump over \d+ instructions$/);
    expect(formatDiagnostics(d.res.diagnostics)).toContain("t.ts:4:14 - error UBPF3008");
  }, 180_000);

  it("__proto__ (crashed TypeScript's checker): UBPF2014 at the name", () => {
    const d = first(`import { loopStep, STOP, u32, __proto__ } from "uringbpf";\nexport let a: __proto__ = 1;\nexport const p = loopStep((ring, lp) => STOP);\n`);
    expect([d.code, d.where]).toEqual([2014, "1:31"]);
    expect(d.message).toBe("unknown name: __proto__ is reserved");
  });
});

describe("names that reach the object are C identifiers, used once (issue 15)", () => {
  it.each([
    ["a global", `${H}export let 中文: u32 = 1;\nexport const p = loopStep((ring, lp) => STOP);\n`, "2:12", "global '中文': '中' (U+4E2D)"],
    ["a program", `${H}export const שלום = loopStep((ring, lp) => STOP);\n`, "2:14", "program 'שלום'"],
    ["a config value", `${H}import { config } from "uringbpf";\nexport const café = config<u32>(1);\nexport const p = loopStep((ring, lp) => STOP);\n`, "3:14", "config value 'café'"],
    ["a @noinline helper", prog(`  x = café(x);`, `/** @noinline */\nfunction café(a: u32): u32 { return a + 1; }\n`), "3:10", "@noinline helper 'café'"],
    ["a helper's parameter", prog(`  x = h(x);`, `/** @noinline */\nfunction h(é: u32): u32 { return é + 1; }\n`), "3:12", "parameter 'é' of h"],
    ["a MEM interface", prog(`  const m = ring.mem<Ω>()!;\n  m.a = 1;`, `interface Ω { a: u32; }\n`), "2:11", "MEM-region type 'Ω'"],
    ["a MEM field", prog(`  const m = ring.mem<M>()!;\n  m.ü = 1;`, `interface M { ü: u32; }\n`), "2:15", "field 'ü' of M"],
    ["a 200-character name", `${H}export let ${"a".repeat(200)}: u32 = 1;\nexport const p = loopStep((ring, lp) => STOP);\n`, "2:12", "200 characters long (at most 127)"],
  ])("non-ASCII or too long: %s gets UBPF2028 at the name", (_, src, where, text) => {
    const d = first(src);
    expect([d.code, d.where]).toEqual([2028, where]);
    expect(d.message).toContain(text);
  });

  it("locals and inlined helpers keep any TypeScript name (they do not reach the object)", () => {
    const res = compileSource("t.ts", prog(`  let café: u32 = x + 1;\n  x = dóuble(café);`, `function dóuble(ä: u32): u32 { return ä * 2; }\n`));
    expect(res.diagnostics).toEqual([]);
  });

  it.each([
    ["a global named like a program's struct_ops variable", `${H}export let p_ops: u32 = 1;\nexport const p = loopStep((ring, lp) => STOP);\n`, "3:14", "'p_ops' is also defined by line 2"],
    ["a reserved uringbpf_ name", `${H}export let uringbpf_sq_entries: u32 = 1;\nexport const p = loopStep((ring, lp) => STOP);\n`, "2:12", "reserved prefix"],
    ["a kfunc's name", prog(`  x = bpf_iter_num_new(x);`, `/** @noinline */\nfunction bpf_iter_num_new(a: u32): u32 { return a; }\n`), "3:10", "also defined by the kernel"],
    ["a MEM interface named like the kernel's type", prog(`  const m = ring.mem<io_ring_ctx>()!;\n  m.a = 1;`, `interface io_ring_ctx { a: u32; }\n`), "2:11", "already defines a type"],
  ])("a clash: %s", (_, src, where, text) => {
    const d = first(src);
    expect([d.code, d.where]).toEqual([d.code === 2028 ? 2028 : 2029, where]);
    expect(d.message).toContain(text);
  });
});

describe("hostile and mutated objects stop the consumers cleanly", () => {
  const base = compileSource("nops.ts", `${H}export let n: u32 = 4;\nexport const nops = loopStep((ring, lp) => { n = n - 1; return n == 0 ? STOP : 0; });\n`);
  const hostile = hostileObjects(base.module!);

  it("the writer lays out a 200,000-instruction program (it overflowed the stack)", () => {
    const big = hostile.find((h) => h.name === "huge-program")!;
    expect(readObject(big.bytes).insns("struct_ops.s/nops")).toHaveLength(200_001);
  });

  it.each(hostile.map((h) => [h.name, h] as const))("%s: the engine on the simulated ring stops with a clean error or a result", (_, h) => {
    const r = runJob({ id: 1, kind: "engine", bytes: h.bytes });
    expect([r.status, r.detail]).not.toContainEqual("exception");
    expect(r.status).not.toBe("exception");
  }, 60_000);

  it("an invalid register number: ExecutionError (was a TypeError mixing BigInt and undefined)", () => {
    const h = hostile.find((x) => x.name === "bad-register")!;
    expect(() => runUserEngine(h.bytes, { addon: simulatedAddon().addon, maxSteps: 10 })).toThrow(ExecutionError);
    expect(() => runUserEngine(h.bytes, { addon: simulatedAddon().addon, maxSteps: 10 })).toThrow(/invalid register r12/);
  });

  it("a BTF INT size past its section: the value reads as null (was a DataView RangeError)", () => {
    const obj = Uint8Array.from(base.object!);
    const btf = readObject(obj).section(".BTF")!;
    // Every 4-byte INT record becomes 1 GiB wide (kind INT = 1 in bits 24-28 of info, size 4, 32 bits).
    const dv = new DataView(obj.buffer);
    const start = btf.offset + dv.getUint32(btf.offset + 4, true);
    let edited = 0;
    for (let p = start; p + 16 <= btf.offset + btf.size; p += 4)
      if (((dv.getUint32(p + 4, true) >>> 24) & 0x1f) === 1 && (dv.getUint32(p + 4, true) & 0xffff) === 0 && dv.getUint32(p + 8, true) === 4 && (dv.getUint32(p + 12, true) & 0xff) === 32) {
        dv.setUint32(p + 8, 1 << 30, true);
        edited++;
      }
    expect(edited).toBeGreaterThan(0);
    const r = runUserEngine(obj, { addon: simulatedAddon().addon, maxSteps: 10 });
    expect(r.globals.n).toBeNull();
  });

  it("a data section of 2 GiB: refused before it is mapped (the engine ran past the time limit copying it)", () => {
    const obj = Buffer.from(base.object!);
    const data = readObject(obj).sections.find((x) => x.name === ".data")!;
    const shoff = Number(obj.readBigUInt64LE(0x28));
    // A NOBITS section's size needs no bytes in the file: .data becomes a 2 GiB .bss.
    obj.writeUInt32LE(8, shoff + data.index * 64 + 4);
    obj.writeBigUInt64LE(0x7fffffffn, shoff + data.index * 64 + 32);
    expect(() => runUserEngine(obj, { addon: simulatedAddon().addon, maxSteps: 10 })).toThrow(/section \.data is 2147483647 bytes \(the engine maps at most 67108864\)/);
  });

  it("an array map whose value type says 2^31 bytes: ImageError before it is allocated (was a RangeError: 16 GiB typed array)", () => {
    const c = compileSource("maps-array.ts", fs.readFileSync(path.join(__dirname, "fixtures", "programs", "maps-array.ts"), "utf8"));
    expect(c.ok).toBe(true);
    let obj: Buffer = Buffer.from(c.object!);
    const all = sites(obj);
    // The fuzz harness's mutant (seed 1): the map's value pointer retargeted to the INT, the INT 2 GiB wide.
    for (const [what, v] of [["[9] VAR.type", 1n], ["[2] INT.size", 2147483648n]] as const) {
      const site = all.find((x) => x.what === what);
      expect(site, what).toBeDefined();
      obj = withField(obj, site!, v);
    }
    expect(() => runUserEngine(obj, { addon: simulatedAddon().addon, maxSteps: 10 })).toThrow(ImageError);
    expect(() => runUserEngine(obj, { addon: simulatedAddon().addon, maxSteps: 10 })).toThrow(/map .* values: .* bytes \(the engine maps at most 67108864\)/);
    expect(runJob({ id: 3, kind: "engine", bytes: obj }).status).toBe("rejected");
  });

  it("a typedef cycle in BTF: values read as null instead of looping forever", () => {
    const btf = new Map([
      [1, { id: 1, kind: "TYPEDEF", name: "a", type: 2 }],
      [2, { id: 2, kind: "TYPEDEF", name: "b", type: 1 }],
      [3, { id: 3, kind: "ARRAY", name: "", elem: 3, index: 3, count: 1 << 30 }],
    ]);
    expect(resolveType(btf, 1)).toBeUndefined();
    expect(decodeValue(btf, 1, new Uint8Array(8), 0)).toBeNull();
    expect(decodeValue(btf, 3, new Uint8Array(8), 0)).toBeNull();
  });

  it("a truncated object: ObjectFormatError from the reader, a rejection from the harness", () => {
    const cut = base.object!.subarray(0, 200);
    expect(() => readObject(cut)).toThrow(ObjectFormatError);
    expect(runJob({ id: 2, kind: "reader", bytes: cut }).status).toBe("rejected");
  });
});
