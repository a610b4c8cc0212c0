// The fuzz harness's seeded slice (CI runs it on every `npm test`): two minutes (and at least 100 programs
// and 60 objects) of TypeScript
// mutants and stress shapes through the compiler and the CLI, mutated objects through the object reader,
// the userspace engine on a simulated ring and the ASan/UBSan-built loader, and the whole hostile set.
// Any exception, signal, hang, out-of-memory or sanitizer report fails it, with the saved input named.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { asanLoader, formatSummary, fuzz, STAGES } from "../fuzz/harness";

const SECONDS = Number(process.env.UBPF_FUZZ_SECONDS ?? 120);

describe("fuzz harness, seeded slice", () => {
  it("finds the loader built with AddressSanitizer and UBSan (scripts/deps.sh build)", () => {
    const loader = asanLoader();
    expect(loader).toBeDefined();
    expect(fs.existsSync(loader!)).toBe(true);
  });

  it(`${SECONDS} s, seed 20261201: 0 exceptions, signals, hangs, OOMs and sanitizer reports`, async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "uringbpf-fuzz-test-"));
    const s = await fuzz({ seconds: SECONDS, seed: 20261201, stages: [...STAGES], out, minPrograms: 100, minObjects: 60, log: () => {} });
    const text = formatSummary(s);
    expect(s.hostile, text).toBeGreaterThanOrEqual(35);
    expect(s.programs, text).toBeGreaterThanOrEqual(100);
    expect(s.objects, text).toBeGreaterThanOrEqual(60);
    expect(s.loaderRuns, text).toBeGreaterThan(s.hostile);
    expect(s.engineRuns, text).toBeGreaterThanOrEqual(s.hostile + s.objects);
    expect([s.exceptions, s.signals, s.hangs, s.ooms, s.sanitizer], text).toEqual([0, 0, 0, 0, 0]);
    fs.rmSync(out, { recursive: true, force: true });
  }, (SECONDS + 900) * 1000);
});
