// Fixture corpus: test/fixtures/diagnostics/X.ts must fail with exactly the diagnostics in X.expected;
// test/fixtures/programs/X.ts must compile to exactly the disassembly in X.asm. Regenerate the expected
// files with `UBPF_UPDATE=1 npx vitest run test/fixtures.test.ts` and review the diff.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileSource, formatDiagnostics, programAsm } from "../compiler/index";

const root = path.join(__dirname, "fixtures");
const update = !!process.env.UBPF_UPDATE;

function check(expectedFile: string, actual: string): void {
  if (update || !fs.existsSync(expectedFile)) {
    if (!update && process.env.CI) throw new Error(`missing ${expectedFile}; run with UBPF_UPDATE=1`);
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

describe("program fixtures", () => {
  for (const f of sources("programs")) {
    it(f, () => {
      const name = `programs/${f}`;
      const res = compileSource(name, fs.readFileSync(path.join(root, name), "utf8"));
      if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
      const text = res.programs.map((p) => `${p.name}: ${p.slots} slots, ${p.stackSize} bytes of stack\n${programAsm(p)}`).join("\n") + "\n";
      check(path.join(root, name.replace(/\.ts$/, ".asm")), text);
    });
  }
});
