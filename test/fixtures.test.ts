// Fixture corpus: test/fixtures/diagnostics/X.ts must fail with exactly the diagnostics in X.expected;
// test/fixtures/programs/X.ts must compile within the slot budget of X.expect and contain its pattern
// lines (calls, global addresses, immediate stores, exits, registers abstracted) in order. A missing
// expected file fails; write new ones with `UBPF_UPDATE=1 npx vitest run test/fixtures.test.ts` and review.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileSource, formatDiagnostics, programAsm } from "../compiler/index";

const root = path.join(__dirname, "fixtures");
const update = !!process.env.UBPF_UPDATE;

function check(expectedFile: string, actual: string): void {
  if (update || !fs.existsSync(expectedFile)) {
    if (!update) throw new Error(`missing ${expectedFile}; write it with UBPF_UPDATE=1 npx vitest run test/fixtures.test.ts and review it`);
    fs.writeFileSync(expectedFile, actual);
  }
  expect(actual).toBe(fs.readFileSync(expectedFile, "utf8"));
}

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith(".ts")).sort();
}

describe("diagnostic fixtures", () => {
  for (const f of sources("diagnostics")) {
    it(f, () => {
      const name = `diagnostics/${f}`;
      const res = compileSource(name, fs.readFileSync(path.join(root, name), "utf8"));
      expect(res.ok).toBe(false);
      expect(res.diagnostics.length).toBeGreaterThan(0);
      check(path.join(root, name.replace(/\.ts$/, ".expected")), formatDiagnostics(res.diagnostics) + "\n");
    });
  }
});

/** The lines of a program's disassembly that say what it does, whatever registers it uses: calls, global
 *  addresses, immediate stores, exits and the cpu v4 instructions (sdiv/smod, movsx, ldsx), with every register written %r (64-bit) or %w (32-bit). */
function skeleton(asm: string): string[] {
  return asm
    .split("\n")
    .map((l) => l.replace(/^\s*\d+:\s*/, "").replace(/\br(10|\d)\b/g, (m) => (m === "r10" ? "r10" : "%r")).replace(/\bw\d\b/g, "%w"))
    .filter((l) => /^call |= &\S+ ll|^exit$|^\*\(u\d+ \*\)\(%r [+-] \d+\) = -?\d+$| s[/%]= |= \(s(8|16|32)\)|= \*\(s(8|16|32) \*\)/.test(l));
}

/** X.expect: `slots NAME N` (the program's budget: it fails when code grows past it) and `match NAME LINE`
 *  lines (the skeleton of the program, in order, as a subsequence of its disassembly's skeleton). */
function checkExpect(file: string, programs: { name: string; slots: number; asm: string }[]): void {
  if (update || !fs.existsSync(file)) {
    if (!update) throw new Error(`missing ${file}; write it with UBPF_UPDATE=1 npx vitest run test/fixtures.test.ts and review it`);
    const lines = programs.flatMap((p) => [`slots ${p.name} ${p.slots}`, ...skeleton(p.asm).map((l) => `match ${p.name} ${l}`)]);
    fs.writeFileSync(file, lines.join("\n") + "\n");
  }
  const expect_ = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() && !l.startsWith("#"));
  for (const p of programs) {
    const budget = expect_.find((l) => l.startsWith(`slots ${p.name} `));
    expect(budget, `${file} has no slot budget for ${p.name}`).toBeDefined();
    expect(p.slots, `${p.name}: ${p.slots} slots, budget ${budget}`).toBeLessThanOrEqual(Number(budget!.split(" ")[2]));
    const want = expect_.filter((l) => l.startsWith(`match ${p.name} `)).map((l) => l.slice(`match ${p.name} `.length));
    const have = skeleton(p.asm);
    let k = 0;
    for (const w of want) {
      while (k < have.length && have[k] !== w) k++;
      expect(k < have.length, `${p.name}: '${w}' not found in order in\n${have.join("\n")}`).toBe(true);
      k++;
    }
  }
  for (const l of expect_) expect(programs.some((p) => l.split(" ")[1] === p.name), `${file}: ${l} names no program`).toBe(true);
}

describe("program fixtures", () => {
  for (const f of sources("programs")) {
    it(f, () => {
      const name = `programs/${f}`;
      const res = compileSource(name, fs.readFileSync(path.join(root, name), "utf8"));
      if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
      checkExpect(path.join(root, name.replace(/\.ts$/, ".expect")), res.programs.map((p) => ({ name: p.name, slots: p.slots, asm: programAsm(p, false) })));
    });
  }
});

// The samples' sizes (issue 10's table: slots of all code sections, as llvm-readelf counts them): each
// sample has a budget in test/fixtures/samples.expect, `slots SAMPLE N`, that fails when its code grows.
describe("sample slot budgets", () => {
  const file = path.join(root, "samples.expect");
  const samplesDir = path.join(__dirname, "..", "samples");
  const budgets = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("slots ")) : [];
  it("every sample has a budget", () => {
    if (update) {
      const lines = fs.readdirSync(samplesDir).filter((f) => f.endsWith(".ts")).sort().map((f) => {
        const res = compileSource(`samples/${f}`, fs.readFileSync(path.join(samplesDir, f), "utf8"));
        if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
        const n = [...res.programs, ...(res.subprograms ?? [])].reduce((s, p) => s + p.slots, 0);
        return `slots ${f.replace(/\.ts$/, "")} ${n}`;
      });
      fs.writeFileSync(file, "# instruction slots of all code sections per sample (a budget: growth fails)\n" + lines.join("\n") + "\n");
    }
    const names = fs.readdirSync(samplesDir).filter((f) => f.endsWith(".ts")).map((f) => f.replace(/\.ts$/, "")).sort();
    const have = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("slots ")).map((l) => l.split(" ")[1]).sort();
    expect(have).toEqual(names);
  });
  for (const line of budgets) {
    const [, name, n] = line.split(" ");
    it(`${name} fits in ${n} slots`, () => {
      const res = compileSource(`samples/${name}.ts`, fs.readFileSync(path.join(samplesDir, `${name}.ts`), "utf8"));
      if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
      const slots = [...res.programs, ...(res.subprograms ?? [])].reduce((s, p) => s + p.slots, 0);
      expect(slots).toBeLessThanOrEqual(Number(n));
    });
  }
});
