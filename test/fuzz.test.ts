// The fuzz harness's seeded slice (CI runs it on every `npm test`): two minutes (and at least 100 programs
// and 60 objects) of TypeScript
// mutants and stress shapes through the compiler and the CLI, mutated objects through the object reader,
// the userspace engine on a simulated ring and the ASan/UBSan-built loader, and the whole hostile set.
// Any exception, signal, hang, out-of-memory or sanitizer report fails it, with the saved input named.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { compileSource } from "../compiler/index";
import { asanLoader, formatSummary, fuzz, STAGES } from "../fuzz/harness";
import { mutateObject } from "../fuzz/objmutate";
import { Rng } from "../fuzz/tsmutate";

const SECONDS = Number(process.env.UBPF_FUZZ_SECONDS ?? 120);

describe("fuzz harness, seeded slice", () => {
  it("finds the loader built with AddressSanitizer and UBSan (scripts/deps.sh build)", () => {
    const loader = asanLoader();
    expect(loader).toBeDefined();
    expect(fs.existsSync(loader!)).toBe(true);
  });

  it("the loader's fork server (--fuzz-batch) gives each object what a fresh `loader OBJ --no-load` gives", () => {
    const loader = asanLoader()!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uringbpf-fuzz-batch-"));
    const base = compileSource("counters.ts", fs.readFileSync(path.join(__dirname, "..", "samples", "counters.ts"), "utf8"));
    expect(base.ok).toBe(true);
    const r = new Rng(7);
    const files = [base.object!, ...Array.from({ length: 24 }, () => mutateObject(r, { name: "counters", bytes: base.object! }).bytes)].map((b, i) => {
      const f = path.join(dir, `m${i}.o`);
      fs.writeFileSync(f, b);
      return f;
    });
    const batch = spawnSync(loader, ["--fuzz-batch"], { input: files.map((f, i) => `${f}\t${path.join(dir, `e${i}.txt`)}\n`).join(""), encoding: "utf8" });
    const ends = batch.stdout.split("\n").filter((l) => /^(exit|signal) /.test(l));
    expect(batch.stdout.split("\n").filter((l) => /^pid \d+$/.test(l)).length).toBe(files.length);
    const statuses = new Set<string>();
    files.forEach((f, i) => {
      const direct = spawnSync(loader, [f, "--no-load"], { encoding: "utf8" });
      expect(ends[i], f).toBe(direct.signal ? `signal ${os.constants.signals[direct.signal]}` : `exit ${direct.status}`);
      expect(fs.readFileSync(path.join(dir, `e${i}.txt`), "utf8"), f).toBe(direct.stderr);
      statuses.add(ends[i]);
    });
    // The mutants reach more than one outcome (the unmutated object is accepted, most mutants refused).
    expect(statuses.size).toBeGreaterThan(1);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it(`${SECONDS} s, seed 20261201: 0 exceptions, signals, hangs, OOMs and sanitizer reports`, async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "uringbpf-fuzz-test-"));
    // One worker per kind: the slice runs beside the rest of `npm test`, and its counts are minimums.
    const s = await fuzz({ seconds: SECONDS, seed: 20261201, stages: [...STAGES], out, minPrograms: 100, minObjects: 60, programWorkers: 1, objectWorkers: 1, log: () => {} });
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
