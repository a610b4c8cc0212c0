// The fuzz harness's parent: makes the inputs (TypeScript mutants and stress shapes, object mutants of the
// compiled seeds, the hostile set), hands each to a stage, enforces a time and memory limit on every child
// run, counts what happened (programs, objects, exceptions, signals, hangs, out-of-memory, sanitizer
// reports) and saves each crashing input with how it was made. `npm run fuzz` drives it (fuzz/main.ts);
// the tests run a seeded slice of it.

import { fork, spawn, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { compileSource } from "../compiler/index";
import { hostileObjects } from "./hostile";
import { mutateObject, type ObjInput } from "./objmutate";
import { mutateSource, Rng, seedSources, stressSource, type TsInput } from "./tsmutate";
import type { JobResult, JobSpec } from "./worker";

export const STAGES = ["ts", "cli", "reader", "engine", "loader", "hostile"] as const;
export type Stage = (typeof STAGES)[number];

export interface FuzzOptions {
  seconds: number;
  seed: number;
  stages: Stage[];
  /** Where crashing inputs are saved (default .cache/uringbpf/fuzz/crashes). */
  out?: string;
  /** Per-run time limit in milliseconds (default 30000; the loader and CLI get their own below). */
  timeLimitMs?: number;
  /** Resident memory limit of a child in MiB (default 1536). */
  memoryMb?: number;
  /** Compiler workers (program lanes; default 3) and reader/engine workers (object lanes; default 2). */
  programWorkers?: number;
  objectWorkers?: number;
  /** Stop after this many inputs of each kind (for tests), whatever the time. */
  maxPrograms?: number;
  maxObjects?: number;
  /** Go on past the time until this many inputs of each kind have run (a slice that must cover them). */
  minPrograms?: number;
  minObjects?: number;
  log?: (line: string) => void;
}

export type Outcome = "ok" | "rejected" | "exception" | "signal" | "hang" | "oom" | "sanitizer";

export interface Finding {
  stage: Stage | "compile";
  outcome: Outcome;
  signature: string;
  detail: string;
  saved?: string;
}

export interface FuzzSummary {
  seed: number;
  seconds: number;
  programs: number;
  compiled: number;
  objects: number;
  hostile: number;
  cliRuns: number;
  loaderRuns: number;
  engineRuns: number;
  readerRuns: number;
  exceptions: number;
  signals: number;
  hangs: number;
  ooms: number;
  sanitizer: number;
  findings: Finding[];
  loader?: string;
  /** Wall time spent per stage, in milliseconds. */
  stageMs: Record<string, number>;
}

const ROOT = path.join(__dirname, "..");
const CACHE = process.env.UBPF_CACHE ?? path.join(ROOT, ".cache", "uringbpf");

/** The loader built with AddressSanitizer and UBSan by scripts/deps.sh build (uringbpf-loader-asan). */
export function asanLoader(): string | undefined {
  const p = path.join(CACHE, "bin", "uringbpf-loader-asan");
  return fs.existsSync(p) ? p : undefined;
}

/** CPU time (user + system) of a process so far, in milliseconds; 0 once it is gone. */
function cpuMsOf(pid: number | undefined): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** spawnSync's result shape, without blocking the event loop (the two lanes run side by side). The limit
 *  is on the child's CPU time (this machine's cores are shared: wall time moves with the load), with ten
 *  times as much wall time as a backstop. */
function spawnAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv, limitMs: number): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let timedOut = false;
    c.stderr!.on("data", (d: Buffer) => {
      if (stderr.length < 64_000) stderr += d.toString();
    });
    const kill = () => {
      timedOut = true;
      c.kill("SIGKILL");
    };
    const t = setTimeout(kill, limitMs * 10);
    const watch = setInterval(() => {
      if (cpuMsOf(c.pid) > limitMs) kill();
    }, 250);
    c.on("close", (status, signal) => {
      clearTimeout(t);
      clearInterval(watch);
      resolve({ status, signal: timedOut ? null : signal, stderr, timedOut });
    });
  });
}

type SpawnResult = Awaited<ReturnType<typeof spawnAsync>>;

/** The ASan loader's fork server (`uringbpf-loader-asan --fuzz-batch`): each run is a child forked from a
 *  process that has done nothing yet, so it runs what `uringbpf-loader-asan OBJ --no-load` runs, without
 *  the exec, the dynamic linking and the sanitizer start-up of a new process (about half of a run's CPU
 *  time). The same CPU-time limit and wall backstop as spawnAsync, on the forked child. One run at a time;
 *  the server is restarted if it dies. */
class LoaderServer {
  private c?: ChildProcess;
  private lines: string[] = [];
  private waiting?: () => void;
  private queue: Promise<unknown> = Promise.resolve();
  private n = 0;
  constructor(private loader: string, private env: NodeJS.ProcessEnv, private tmp: string) {}

  private start(): ChildProcess {
    const c = spawn(this.loader, ["--fuzz-batch"], { env: this.env, stdio: ["pipe", "pipe", "ignore"] });
    let buf = "";
    c.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      this.waiting?.();
    });
    c.on("exit", () => {
      if (this.c === c) this.c = undefined;
      this.waiting?.();
    });
    c.stdin!.on("error", () => {});
    return c;
  }

  private next(c: ChildProcess): Promise<string | undefined> {
    return new Promise((resolve) => {
      const take = () => {
        if (this.lines.length) {
          this.waiting = undefined;
          resolve(this.lines.shift());
        } else if (this.c !== c) {
          this.waiting = undefined;
          resolve(undefined);
        }
      };
      this.waiting = take;
      take();
    });
  }

  run(file: string, limitMs: number): Promise<SpawnResult> {
    const r = this.queue.then(() => this.runOne(file, limitMs));
    this.queue = r.catch(() => {});
    return r;
  }

  private async runOne(file: string, limitMs: number): Promise<SpawnResult> {
    if (!this.c) this.c = this.start();
    const c = this.c;
    const errFile = path.join(this.tmp, `loader-err-${this.n++ % 2}.txt`);
    this.lines = [];
    c.stdin!.write(`${file}\t${errFile}\n`);
    const started = await this.next(c);
    const pid = /^pid (\d+)$/.exec(started ?? "")?.[1];
    if (!pid) return { status: null, signal: null, stderr: `loader fork server: ${started ?? "died"}`, timedOut: false };
    let timedOut = false;
    const kill = () => {
      timedOut = true;
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    };
    const t = setTimeout(kill, limitMs * 10);
    const watch = setInterval(() => {
      if (cpuMsOf(Number(pid)) > limitMs) kill();
    }, 250);
    const end = await this.next(c);
    clearTimeout(t);
    clearInterval(watch);
    let stderr = "";
    try {
      stderr = fs.readFileSync(errFile, "utf8").slice(0, 64_000);
    } catch {
      /* not written */
    }
    const m = /^(exit|signal) (\d+)$/.exec(end ?? "");
    if (!m) return { status: null, signal: null, stderr: `loader fork server: ${end ?? "died"}\n${stderr}`, timedOut };
    const sig = m[1] === "signal" ? (Object.entries(os.constants.signals).find(([, v]) => v === Number(m[2]))?.[0] as NodeJS.Signals) ?? "SIGKILL" : null;
    return { status: m[1] === "exit" ? Number(m[2]) : null, signal: timedOut ? null : sig, stderr, timedOut };
  }

  stop(): void {
    this.c?.kill("SIGKILL");
    this.c = undefined;
  }
}

/** A child process running fuzz/worker.ts, restarted after every death. */
class WorkerPool {
  private child?: ChildProcess;
  private stderr = "";
  private nextId = 1;
  constructor(private memoryMb: number) {}

  private ready?: Promise<boolean>;

  private start(): ChildProcess {
    const c = fork(path.join(__dirname, "worker.ts"), ["--uringbpf-fuzz-worker"], {
      execArgv: ["--import", "tsx", `--max-old-space-size=${this.memoryMb}`],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      serialization: "advanced",
    });
    c.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    // Ready after its warm-up compile; a start-up that takes minutes (a loaded machine) is not a hang.
    this.ready = new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 300_000);
      const onMsg = (m: { ready?: boolean }) => {
        if (!m.ready) return;
        clearTimeout(t);
        c.off("message", onMsg);
        resolve(true);
      };
      c.on("message", onMsg);
      c.once("exit", () => resolve(false));
    });
    return c;
  }

  /** Start the child now (set-up time, not a job's): resolves when it is ready. */
  warm(): Promise<boolean> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) this.child = this.start();
    return this.ready!;
  }

  /** Run a job; resolves with its result or with how the child died. */
  run(job: JobSpec, timeLimitMs: number): Promise<JobResult | { id: number; status: Exclude<Outcome, "ok" | "rejected" | "exception">; detail: string }> {
    const id = this.nextId++;
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) this.child = this.start();
    const c = this.child;
    return this.ready!.then((ok) => {
      if (!ok) {
        c.kill("SIGKILL");
        this.child = undefined;
        return { id, status: "signal" as const, detail: `worker did not start: ${this.stderr.slice(-600)}` };
      }
      return this.runOn(c, id, job, timeLimitMs);
    });
  }

  private runOn(c: ChildProcess, id: number, job: JobSpec, timeLimitMs: number): Promise<JobResult | { id: number; status: Exclude<Outcome, "ok" | "rejected" | "exception">; detail: string }> {
    this.stderr = "";
    return new Promise((resolve) => {
      let done = false;
      let killedFor: "hang" | "oom" | undefined;
      const finish = (r: Parameters<typeof resolve>[0]) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(watch);
        c.off("message", onMsg);
        c.off("exit", onExit);
        resolve(r);
      };
      const onMsg = (m: JobResult) => {
        if (m?.id !== id) return;
        finish({ ...m, object: m.object ? Uint8Array.from(Buffer.from(m.object as unknown as string, "base64")) : undefined });
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        this.child = undefined;
        const err = this.stderr;
        if (killedFor) return finish({ id, status: killedFor, detail: killedFor === "hang" ? `no answer within ${timeLimitMs} ms of CPU time (or ${timeLimitMs * 10} ms of wall time)` : `resident memory above ${this.memoryMb} MiB` });
        if (/heap out of memory|Allocation failed|Invalid array buffer length|Array buffer allocation failed/.test(err)) return finish({ id, status: "oom", detail: err.slice(-600) });
        finish({ id, status: "signal", detail: `worker died (${sig ?? `exit ${code}`}): ${err.slice(-600)}` });
      };
      // The limit is on the child's CPU time, with ten times as much wall time as a backstop (as spawnAsync).
      const cpuMs = () => cpuMsOf(c.pid);
      const cpu0 = cpuMs();
      const timer = setTimeout(() => {
        killedFor = "hang";
        c.kill("SIGKILL");
      }, timeLimitMs * 10);
      // Resident memory (ArrayBuffers live outside the V8 heap limit) and CPU time.
      const watch = setInterval(() => {
        try {
          const st = fs.readFileSync(`/proc/${c.pid}/status`, "utf8");
          const kb = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0);
          if (kb > this.memoryMb * 1024 * 1.25) {
            killedFor = "oom";
            c.kill("SIGKILL");
          } else if (cpuMs() - cpu0 > timeLimitMs) {
            killedFor = "hang";
            c.kill("SIGKILL");
          }
        } catch {
          /* gone */
        }
      }, 250);
      c.on("message", onMsg);
      c.on("exit", onExit);
      const wire = job.kind === "compile" ? { ...job, id } : { ...job, id, bytes: Buffer.from(job.bytes).toString("base64") };
      c.send(wire as never);
    });
  }

  stop(): void {
    this.child?.kill("SIGKILL");
    this.child = undefined;
  }
}

/** Run the harness for the given time. */
export async function fuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const outDir = o.out ?? path.join(CACHE, "fuzz", "crashes");
  const timeLimit = o.timeLimitMs ?? 30_000;
  const memoryMb = o.memoryMb ?? 1536;
  const s: FuzzSummary = { seed: o.seed, seconds: o.seconds, programs: 0, compiled: 0, objects: 0, hostile: 0, cliRuns: 0, loaderRuns: 0, engineRuns: 0, readerRuns: 0, exceptions: 0, signals: 0, hangs: 0, ooms: 0, sanitizer: 0, findings: [], stageMs: {} };
  const spent = (k: string, t0: number) => (s.stageMs[k] = (s.stageMs[k] ?? 0) + Date.now() - t0);
  const has = (st: Stage) => o.stages.includes(st);
  const setupStart = Date.now();
  const seeds = seedSources();
  const bySignature = new Map<string, number>();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uringbpf-fuzz-"));

  const record = (stage: Finding["stage"], outcome: Outcome, detail: string, input: { name: string; data: string | Uint8Array; how: string; noTypecheck?: boolean }) => {
    if (outcome === "ok" || outcome === "rejected") return;
    if (outcome === "exception") s.exceptions++;
    else if (outcome === "signal") s.signals++;
    else if (outcome === "hang") s.hangs++;
    else if (outcome === "oom") s.ooms++;
    else s.sanitizer++;
    const first = detail.split("\n")[0].replace(/\d+/g, "N").slice(0, 160);
    const signature = `${stage}/${outcome}: ${first}`;
    const seen = bySignature.get(signature) ?? 0;
    bySignature.set(signature, seen + 1);
    const f: Finding = { stage, outcome, signature, detail: detail.slice(0, 2000) };
    if (seen < 3) {
      fs.mkdirSync(outDir, { recursive: true });
      const hash = crypto.createHash("sha1").update(input.data).digest("hex").slice(0, 12);
      const ext = typeof input.data === "string" ? ".ts" : ".o";
      const file = path.join(outDir, `${stage}-${outcome}-${hash}${ext}`);
      fs.writeFileSync(file, input.data);
      fs.writeFileSync(file + ".txt", `seed ${o.seed}\nstage ${stage}\noutcome ${outcome}\ninput ${input.name}${input.noTypecheck ? " (--no-typecheck)" : ""}\nhow ${input.how}\n\n${detail}\n`);
      f.saved = file;
      s.findings.push(f);
      log(`fuzz: ${signature} (saved ${path.relative(process.cwd(), file)})`);
    }
  };

  const progPools = Array.from({ length: Math.max(1, o.programWorkers ?? 3) }, () => new WorkerPool(memoryMb));
  const objPools = Array.from({ length: Math.max(1, o.objectWorkers ?? 2) }, () => new WorkerPool(memoryMb));
  // The workers start (TypeScript's checker and the runtime declarations load) while the bases compile.
  const warming = Promise.all([...progPools, ...objPools].map((p) => p.warm()));
  const loader = has("loader") || has("hostile") ? asanLoader() : undefined;
  if (has("loader") && !loader) log("fuzz: no ASan loader (run bash scripts/deps.sh build): the loader stage is skipped");
  s.loader = loader;
  const loaderEnv = { ...process.env, ASAN_OPTIONS: "detect_leaks=0:exitcode=86:abort_on_error=0:allocator_may_return_null=1", UBSAN_OPTIONS: "halt_on_error=1:exitcode=87:print_stacktrace=1" };
  const loaderServer = loader ? new LoaderServer(loader, loaderEnv, tmp) : undefined;

  const runLoader = async (input: ObjInput, tag: string) => {
    if (!loader) return;
    const t0 = Date.now();
    const f = path.join(tmp, `in-${tag}.o`);
    fs.writeFileSync(f, input.bytes);
    s.loaderRuns++;
    const res = await loaderServer!.run(f, 10_000);
    const err = res.stderr;
    let outcome: Outcome = "ok";
    let detail = "";
    if (res.timedOut) [outcome, detail] = ["hang", "loader --no-load ran past 10 s of CPU time"];
    else if (res.status === 86 || res.status === 87 || /ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/.test(err))
      [outcome, detail] = ["sanitizer", (err.match(/(ERROR: AddressSanitizer.*|.*runtime error:.*)/)?.[0] ?? `exit ${res.status}`) + "\n" + err.slice(0, 1500)];
    else if (res.signal) [outcome, detail] = ["signal", `loader killed by ${res.signal}\n${err.slice(-800)}`];
    else if (res.status !== null && res.status > 9) [outcome, detail] = ["exception", `loader exit ${res.status}\n${err.slice(-800)}`];
    spent("loader", t0);
    record("loader", outcome, detail, { name: input.name, data: input.bytes, how: input.how });
  };

  const runCli = async (input: TsInput) => {
    const f = path.join(tmp, input.name.replace(/[^\w.-]/g, "_") || "in.ts");
    fs.writeFileSync(f, input.text);
    s.cliRuns++;
    const args = [path.join(ROOT, "cli", "uringbpf.js"), "build", f, "-o", path.join(tmp, "out.o"), ...(input.noTypecheck ? ["--no-typecheck"] : [])];
    const t0 = Date.now();
    const res = await spawnAsync(process.execPath, [`--max-old-space-size=${memoryMb}`, ...args], process.env, timeLimit);
    spent("cli", t0);
    const err = res.stderr;
    let outcome: Outcome = "ok";
    let detail = "";
    if (res.timedOut) [outcome, detail] = ["hang", `uringbpf build ran past ${timeLimit} ms of CPU time`];
    else if (/heap out of memory/.test(err)) [outcome, detail] = ["oom", err.slice(-600)];
    else if (res.signal) [outcome, detail] = ["signal", `uringbpf build killed by ${res.signal}`];
    else if (res.status !== 0 && res.status !== 1 && res.status !== 2) [outcome, detail] = ["exception", `exit ${res.status}: ${err.slice(-800)}`];
    else if (/^\s+at .*\(.*:\d+:\d+\)$/m.test(err) || /internal compiler error|UBPF9001/.test(err)) [outcome, detail] = ["exception", err.slice(0, 1200)];
    record("cli", outcome, detail, { name: input.name, data: input.text, how: input.how, noTypecheck: input.noTypecheck });
  };

  const runWorker = async (stage: "compile" | "reader" | "engine", job: JobSpec, input: { name: string; data: string | Uint8Array; how: string; noTypecheck?: boolean }, pool: WorkerPool) => {
    const t0 = Date.now();
    const res = await pool.run(job, timeLimit);
    spent(stage, t0);
    record(stage === "compile" ? "ts" : stage, res.status as Outcome, res.detail, input);
    return res;
  };

  // Base objects: the seeds that compile.
  const bases: { name: string; bytes: Uint8Array }[] = [];
  let baseModule: import("../compiler/object/module").ObjectModule | undefined;
  for (const sd of seeds) {
    try {
      const c = compileSource(sd.name, sd.text);
      if (c.ok && c.object) {
        bases.push({ name: sd.name, bytes: c.object });
        if (!baseModule && /nops/.test(sd.name)) baseModule = c.module;
      }
    } catch {
      /* a seed crashing the compiler shows up in the ts stage */
    }
  }
  baseModule ??= undefined;

  // In a checkout the CLI rebuilds its bundle when the sources are newer: do that now, not in a timed run.
  if (has("cli")) await spawnAsync(process.execPath, [path.join(ROOT, "cli", "uringbpf.js"), "--version"], process.env, 600_000);
  await warming;
  log(`fuzz: set up in ${((Date.now() - setupStart) / 1000).toFixed(0)} s (${bases.length} base objects compiled from ${seeds.length} seeds)`);
  const deadline = Date.now() + o.seconds * 1000;
  try {
    let lastReport = Date.now();
    const report = () => {
      if (Date.now() - lastReport < 30_000) return;
      lastReport = Date.now();
      log(`fuzz: ${Math.round((deadline - Date.now()) / 1000)} s left: ${s.programs} programs (${s.compiled} compiled), ${s.objects} objects, ${s.exceptions + s.signals + s.hangs + s.ooms + s.sanitizer} findings`);
    };
    // Lanes side by side: program lanes (each with its own compiler worker) and object lanes (each with its
    // own reader/engine worker, sharing the loader's fork server). The inputs come from one generator per
    // kind, drawn in order with every random choice about them, so a seed makes the same inputs whatever
    // the timing and the number of lanes.
    const rp = new Rng((o.seed * 2 + 1) >>> 0);
    const nextProgram = () => {
      const input = rp.chance(0.12) ? stressSource(rp) : mutateSource(rp, seeds);
      // (Inputs past 20,000 characters stay in process: the CLI adds nothing to them but minutes under load.)
      return { input, readBack: rp.chance(0.3), cli: rp.chance(0.005) && input.text.length <= 20_000 };
    };
    let cli: Promise<void> | undefined;
    const programsLeft = () => (Date.now() < deadline || s.programs < (o.minPrograms ?? 0)) && (has("ts") || has("cli")) && !(o.maxPrograms !== undefined && s.programs >= o.maxPrograms);
    const programLane = async (pool: WorkerPool) => {
      while (programsLeft()) {
        const { input, readBack, cli: toCli } = nextProgram();
        s.programs++;
        const data = { name: input.name, data: input.text, how: input.how, noTypecheck: input.noTypecheck };
        if (has("ts")) {
          const res = await runWorker("compile", { kind: "compile", name: input.name, text: input.text, noTypecheck: input.noTypecheck, wantObject: true }, data, pool);
          if (res.status === "ok") {
            s.compiled++;
            const obj = (res as JobResult).object;
            // Objects the compiler wrote from mutants are read back too.
            if (obj && has("reader") && readBack) {
              s.readerRuns++;
              await runWorker("reader", { kind: "reader", bytes: obj }, { name: input.name, data: obj, how: `compiled from: ${input.how}` }, pool);
            }
          }
        }
        // The CLI (a fresh Node process, about a second of CPU time each) takes a sample of the programs,
        // one at a time beside the in-process compiles.
        if (has("cli") && (toCli || !has("ts"))) {
          while (cli) await cli;
          cli = runCli(input).finally(() => (cli = undefined));
          if (!has("ts")) await cli;
        }
        report();
      }
      while (cli) await cli;
    };
    const ro = new Rng((o.seed * 2 + 2) >>> 0);
    const nextObject = () => {
      const input = mutateObject(ro, ro.pick(bases));
      return { input, toLoader: has("loader") && (ro.chance(0.5) || !has("reader")) };
    };
    const objectsLeft = () => (Date.now() < deadline || s.objects < (o.minObjects ?? 0)) && (has("reader") || has("engine") || has("loader")) && bases.length > 0 && !(o.maxObjects !== undefined && s.objects >= o.maxObjects);
    const objectLane = async (pool: WorkerPool, lane: number) => {
      if (lane === 0 && has("hostile") && baseModule) {
        for (const h of hostileObjects(baseModule)) {
          s.hostile++;
          const input = { name: h.name, data: h.bytes, how: `hostile ${h.name}` };
          s.readerRuns++;
          await runWorker("reader", { kind: "reader", bytes: h.bytes }, input, pool);
          s.engineRuns++;
          await runWorker("engine", { kind: "engine", bytes: h.bytes }, input, pool);
          await runLoader({ name: h.name, bytes: h.bytes, how: input.how }, "hostile");
        }
        log(`fuzz: hostile set: ${s.hostile} objects`);
      }
      for (let k = 0; objectsLeft(); k++) {
        const { input, toLoader } = nextObject();
        s.objects++;
        const data = { name: input.name, data: input.bytes, how: input.how };
        // The loader (a process of its own) runs while the worker reads and runs the same object.
        const loading = toLoader ? runLoader(input, `obj${lane}-${k % 2}`) : undefined;
        if (has("reader")) {
          s.readerRuns++;
          await runWorker("reader", { kind: "reader", bytes: input.bytes }, data, pool);
        }
        if (has("engine")) {
          s.engineRuns++;
          await runWorker("engine", { kind: "engine", bytes: input.bytes }, data, pool);
        }
        await loading;
        report();
      }
    };
    await Promise.all([...progPools.map((p) => programLane(p)), ...objPools.map((p, i) => objectLane(p, i))]);
    log(`fuzz: the last runs ended ${((Date.now() - deadline) / 1000).toFixed(0)} s after the deadline`);
  } finally {
    for (const p of [...progPools, ...objPools]) p.stop();
    loaderServer?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return s;
}

/** Each stage's runs, its wall time and its throughput (the lanes overlap, so the times add up to more
 *  than the run's length). */
function stageRates(s: FuzzSummary): string[] {
  const runs: Record<string, number> = { compile: s.programs, reader: s.readerRuns, engine: s.engineRuns, loader: s.loaderRuns, cli: s.cliRuns };
  return Object.entries(s.stageMs).map(([k, ms]) => `${k === "compile" ? "ts" : k} ${runs[k] ?? 0} in ${(ms / 1000).toFixed(0)} s (${ms > 0 ? ((runs[k] ?? 0) / (ms / 1000)).toFixed(1) : "-"}/s)`);
}

/** The summary as the command prints it. */
export function formatSummary(s: FuzzSummary): string {
  const lines = [
    `fuzz summary (seed ${s.seed}, ${s.seconds} s)`,
    `  programs ${s.programs} (${s.compiled} compiled)   objects ${s.objects}   hostile ${s.hostile}`,
    `  runs: reader ${s.readerRuns}, engine ${s.engineRuns} (simulated ring), loader ${s.loaderRuns}${s.loader ? ` (${path.basename(s.loader)})` : " (no ASan loader)"}, cli ${s.cliRuns}`,
    `  per stage (runs, wall time in the stage, runs per second): ${stageRates(s).join(", ")}`,
    `  exceptions ${s.exceptions}   signals ${s.signals}   hangs ${s.hangs}   out-of-memory ${s.ooms}   sanitizer reports ${s.sanitizer}`,
  ];
  const sigs = new Map<string, Finding>();
  for (const f of s.findings) if (!sigs.has(f.signature)) sigs.set(f.signature, f);
  for (const [sig, f] of sigs) lines.push(`  - ${sig}${f.saved ? `\n      ${path.relative(process.cwd(), f.saved)}` : ""}`);
  return lines.join("\n");
}
