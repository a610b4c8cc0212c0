// `npm run fuzz -- --seconds N --seed S [--stages ts,cli,reader,engine,loader,hostile,kernel] [--out DIR]`:
// the fuzz harness as a command (see fuzz/harness.ts and docs/FUZZING.md). Exit status 0 when no run ended
// in an exception, a signal, a hang, out of memory or a sanitizer report; 1 otherwise; 2 on usage errors.

import { formatSummary, fuzz, STAGES, type Stage } from "./harness";
import { formatKernelSummary, kernelCorpus } from "./kernel";

const USAGE = `usage: npm run fuzz -- [--seconds N] [--seed S] [--stages LIST] [--out DIR] [--time-limit MS] [--memory MB] [--workers P,O]
       npm run fuzz -- --stages kernel [--mutants N] [--seed S]

  --seconds N      how long to fuzz (default 60)
  --seed S         PRNG seed; the same seed makes the same inputs (default 1)
  --stages LIST    comma-separated: ${STAGES.join(",")} (default all of these), or kernel
                   ts       TypeScript mutants and stress shapes through the compiler in process
                   cli      the same through \`uringbpf build\` in a child process
                   reader   mutated objects through the object reader and the engine's image
                   engine   mutated objects through the userspace engine on a simulated ring
                   loader   mutated objects through the ASan/UBSan-built loader with --no-load
                   hostile  the hand-made hostile objects through reader, engine and loader
                   kernel   compile mutants of the samples and fixtures and load every one that compiles
                            in the 7.x kernel (one VM boot); counts objects the kernel refuses
  --mutants N      kernel stage: how many compiled mutants to load (default 1000)
  --out DIR        where crashing inputs are saved (default .cache/uringbpf/fuzz/crashes)
  --time-limit MS  per-run time limit (default 30000)
  --memory MB      per-child memory limit (default 1536)
  --workers P,O    compiler workers (program lanes) and reader/engine workers (object lanes); default 3,2
  --json           print the summary as JSON`;

function parse(argv: string[]) {
  const o = { seconds: 60, seed: 1, stages: [...STAGES] as string[], out: undefined as string | undefined, timeLimit: 30000, memory: 1536, mutants: 1000, json: false, programWorkers: 3, objectWorkers: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const v = val();
      if (!/^\d+$/.test(v)) throw new Error(`${a}: not a number: ${v}`);
      return Number(v);
    };
    if (a === "-h" || a === "--help") {
      console.log(USAGE);
      process.exit(0);
    } else if (a === "--seconds") o.seconds = num();
    else if (a === "--seed") o.seed = num();
    else if (a === "--stages") o.stages = val().split(",").filter(Boolean);
    else if (a === "--out") o.out = val();
    else if (a === "--time-limit") o.timeLimit = num();
    else if (a === "--memory") o.memory = num();
    else if (a === "--mutants") o.mutants = num();
    else if (a === "--json") o.json = true;
    else if (a === "--workers") {
      const v = val();
      const m = /^(\d+),(\d+)$/.exec(v);
      if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`--workers: not P,O (two counts of at least 1): ${v}`);
      [o.programWorkers, o.objectWorkers] = [Number(m[1]), Number(m[2])];
    }
    else throw new Error(`unknown option ${a}`);
  }
  for (const s of o.stages) if (![...STAGES, "kernel"].includes(s)) throw new Error(`unknown stage ${s} (${STAGES.join(", ")}, kernel)`);
  return o;
}

async function main(): Promise<number> {
  let o: ReturnType<typeof parse>;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  let bad = 0;
  const stages = o.stages.filter((s) => s !== "kernel") as Stage[];
  if (stages.length) {
    const s = await fuzz({ seconds: o.seconds, seed: o.seed, stages, out: o.out, timeLimitMs: o.timeLimit, memoryMb: o.memory, programWorkers: o.programWorkers, objectWorkers: o.objectWorkers });
    console.log(o.json ? JSON.stringify({ ...s, findings: s.findings.map((f) => ({ ...f, detail: f.detail.slice(0, 300) })) }) : formatSummary(s));
    bad += s.exceptions + s.signals + s.hangs + s.ooms + s.sanitizer;
  }
  if (o.stages.includes("kernel")) {
    const k = await kernelCorpus({ mutants: o.mutants, seed: o.seed, log: (l) => process.stderr.write(l + "\n") });
    console.log(o.json ? JSON.stringify(k) : formatKernelSummary(k));
    bad += k.refused.length;
  }
  return bad ? 1 : 0;
}

main().then((c) => process.exit(c), (e) => {
  console.error(e);
  process.exit(1);
});
