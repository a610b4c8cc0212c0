// The kernel mutation corpus: mutants of the samples and fixture programs that type-check and compile are
// loaded in the 7.x kernel (one VM boot, the loader with --no-run: load and attach, which is where the
// kernel refuses an object) and every object the kernel refuses is counted with the loader's reason. What
// "uringbpf accepts" must be what the kernel accepts: the target is 0 refused objects.

import * as fs from "fs";
import * as path from "path";
import { compileSource } from "../compiler/index";
import { runInVm, vmAvailability, type VmCase } from "../runtime/vm/vm";
import { mutateForKernel, Rng, seedSources } from "./tsmutate";

export interface KernelMutant {
  index: number;
  how: string;
  source: string;
  object: Uint8Array;
}

export interface KernelVerdict {
  index: number;
  how: string;
  /** loaded: the kernel took it; refused: it did not (stage and error from the loader); lost: no verdict. */
  verdict: "loaded" | "refused" | "lost";
  stage?: string;
  error?: string;
}

export interface KernelSummary {
  seed: number;
  tried: number;
  compiled: number;
  loaded: number;
  refused: KernelVerdict[];
  lost: number;
  wallMs?: number;
}

/** Compile mutants until `n` of them compile (type-checked), from the samples and fixture programs. */
export function kernelMutants(seed: number, n: number): { mutants: KernelMutant[]; tried: number } {
  const seeds = seedSources().filter((s) => /^(samples|test\/fixtures\/(programs|loops))\//.test(s.name) && compileSource(s.name, s.text).ok);
  const r = new Rng(seed >>> 0 || 1);
  const mutants: KernelMutant[] = [];
  let tried = 0;
  const seen = new Set(seeds.map((s) => s.text));
  while (mutants.length < n && tried < n * 60) {
    tried++;
    const m = mutateForKernel(r, seeds);
    if (seen.has(m.text)) continue;
    seen.add(m.text);
    let res;
    try {
      res = compileSource(m.name, m.text);
    } catch {
      continue; // a crash is the ts stage's finding, not this one's
    }
    if (res.ok && res.object) mutants.push({ index: mutants.length, how: m.how, source: m.text, object: res.object });
  }
  return { mutants, tried };
}

/** VM cases loading the mutants, in batches (each loader run limited to 60 s). */
export function kernelCases(mutants: KernelMutant[], batch = 100, prefix = "fuzzk"): VmCase[] {
  const cases: VmCase[] = [];
  for (let i = 0; i < mutants.length; i += batch) {
    const part = mutants.slice(i, i + batch);
    cases.push({
      id: `${prefix}-${i}`,
      command: part.map((m) => `echo "@@MUTANT ${m.index}"; timeout 60 uringbpf-loader ${prefix}/${m.index}.o --no-run 2>/dev/null | tail -1`).join("\n"),
      files: part.map((m) => ({ guestPath: `${prefix}/${m.index}.o`, data: m.object })),
      timeoutSec: 90 * part.length,
    });
  }
  return cases;
}

/** The verdicts in the cases' output. */
export function kernelVerdicts(mutants: KernelMutant[], outputs: string[]): KernelVerdict[] {
  const seen = new Map<number, KernelVerdict>();
  for (const out of outputs) {
    for (const chunk of out.split("@@MUTANT ").slice(1)) {
      const index = Number(chunk.split("\n")[0]);
      const m = mutants[index];
      if (!m) continue;
      const line = chunk.split("\n").find((l) => l.startsWith("{"));
      let j: { ok?: boolean; stage?: string; error?: string } | undefined;
      try {
        j = line ? JSON.parse(line) : undefined;
      } catch {
        j = undefined;
      }
      if (!j) seen.set(index, { index, how: m.how, verdict: "lost" });
      else if (j.ok) seen.set(index, { index, how: m.how, verdict: "loaded" });
      else seen.set(index, { index, how: m.how, verdict: "refused", stage: j.stage, error: j.error });
    }
  }
  return mutants.map((m) => seen.get(m.index) ?? { index: m.index, how: m.how, verdict: "lost" });
}

/** Compile and load `mutants` mutants in one VM boot. */
export async function kernelCorpus(o: { mutants: number; seed: number; log?: (l: string) => void }): Promise<KernelSummary> {
  const avail = vmAvailability();
  if (!avail.ok) throw new Error(`the kernel stage needs the VM: ${avail.reason}`);
  const t0 = Date.now();
  // The compiled corpus is kept in the cache: a second boot of the same seed and size skips compiling.
  const cacheFile = path.join(process.env.UBPF_CACHE ?? path.join(__dirname, "..", ".cache", "uringbpf"), "fuzz", `kernel-${o.seed}-${o.mutants}.json`);
  let corpus: { mutants: KernelMutant[]; tried: number };
  if (fs.existsSync(cacheFile)) {
    const j = JSON.parse(fs.readFileSync(cacheFile, "utf8")) as { tried: number; mutants: (Omit<KernelMutant, "object"> & { object: string })[] };
    corpus = { tried: j.tried, mutants: j.mutants.map((m) => ({ ...m, object: Uint8Array.from(Buffer.from(m.object, "base64")) })) };
  } else {
    corpus = kernelMutants(o.seed, o.mutants);
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    fs.writeFileSync(cacheFile, JSON.stringify({ tried: corpus.tried, mutants: corpus.mutants.map((m) => ({ ...m, object: Buffer.from(m.object).toString("base64") })) }));
  }
  const { mutants, tried } = corpus;
  o.log?.(`fuzz kernel: ${mutants.length} of ${tried} mutants compiled (${((Date.now() - t0) / 1000).toFixed(1)} s); booting the VM`);
  const cases = kernelCases(mutants);
  let done = 0;
  const run = await runInVm(cases, {
    timeoutMs: Math.max(20 * 60_000, mutants.length * 10_000),
    memoryMb: 2048,
    onConsoleLine: (l) => {
      if (l.startsWith("@@MUTANT ") && ++done % 100 === 0) o.log?.(`fuzz kernel: ${done} loaded`);
    },
  });
  const verdicts = kernelVerdicts(mutants, run.cases.map((c) => c.output));
  return {
    seed: o.seed,
    tried,
    compiled: mutants.length,
    loaded: verdicts.filter((v) => v.verdict === "loaded").length,
    refused: verdicts.filter((v) => v.verdict === "refused"),
    lost: verdicts.filter((v) => v.verdict === "lost").length,
    wallMs: run.wallMs,
  };
}

export function formatKernelSummary(k: KernelSummary): string {
  const lines = [
    `fuzz kernel summary (seed ${k.seed}): ${k.tried} mutants tried, ${k.compiled} compiled, ${k.loaded} loaded, ${k.refused.length} refused, ${k.lost} without a verdict${k.wallMs ? ` (VM ${(k.wallMs / 1000).toFixed(0)} s)` : ""}`,
  ];
  for (const v of k.refused.slice(0, 30)) lines.push(`  - mutant ${v.index} (${v.how}): ${v.stage}: ${v.error}`);
  return lines.join("\n");
}
