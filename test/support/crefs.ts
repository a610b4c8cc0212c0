// The C references of bench/c/ (samples nops, cp, records and qd written in C against docs/OBJECT.md):
// how to build them with clang, how to count an object's code slots with llvm-readelf, and how each is run
// in the VM with the reference loader and checked to have done its job. One table for bench/size.ts (the
// size table against clang) and test/cref.test.ts (the references build and run in the kernel).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { makeRecords } from "./records";

export const CREF_DIR = path.join(__dirname, "..", "..", "bench", "c");
export const CREF_SAMPLES = ["nops", "cp", "records", "qd"] as const;
export type CrefSample = (typeof CREF_SAMPLES)[number];

/** A clang that can build for the BPF target: `clang` (Debian bookworm's 14: up to -mcpu=v3) and the
 *  newest `clang-N` on PATH with N >= 18 (the first with -mcpu=v4; scripts/deps.sh installs clang-19). */
export interface Clang {
  bin: string;
  version: number;
}

function clangVersion(bin: string): number | undefined {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  const m = /clang version (\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

/** The default clang (for -mcpu=v3). */
export function defaultClang(): Clang | undefined {
  const v = clangVersion("clang");
  return v === undefined ? undefined : { bin: "clang", version: v };
}

/** A clang that knows -mcpu=v4 (18 or newer). */
export function v4Clang(): Clang | undefined {
  for (let n = 25; n >= 18; n--) {
    const v = clangVersion(`clang-${n}`);
    if (v !== undefined) return { bin: `clang-${n}`, version: v };
  }
  const v = clangVersion("clang");
  return v !== undefined && v >= 18 ? { bin: "clang", version: v } : undefined;
}

/** Build bench/c/NAME.c with `clang -O2 -g -target bpf -mcpu=CPU` into `out`; throws with clang's
 *  message when it fails. `extra` goes after -O2 (e.g. -fno-unroll-loops). */
export function buildCref(clang: Clang, name: CrefSample, cpu: "v3" | "v4", out: string, extra: string[] = []): Buffer {
  const args = ["-O2", ...extra, "-g", "-target", "bpf", `-mcpu=${cpu}`, "-Wall", "-Werror", "-c", path.join(CREF_DIR, `${name}.c`), "-o", out];
  const r = spawnSync(clang.bin, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${clang.bin} ${args.join(" ")} failed:\n${r.stderr}`);
  return fs.readFileSync(out);
}

/** Instruction slots of all code sections (SHF_EXECINSTR) of an object, from `llvm-readelf -S`. */
export function codeSlots(objectPath: string): number {
  const r = spawnSync("llvm-readelf", ["-S", "--wide", objectPath], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`llvm-readelf -S ${objectPath} failed:\n${r.stderr}`);
  let bytes = 0;
  let seen = 0;
  // "  [ 3] struct_ops.s/nops PROGBITS 0000000000000000 000040 000a90 00  AX  0   0  8"
  const re = /^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\S*)\s/;
  for (const line of r.stdout.split("\n")) {
    const m = re.exec(line);
    if (!m || m[2] !== "PROGBITS" || !m[7].includes("X")) continue;
    bytes += parseInt(m[5], 16);
    seen++;
  }
  if (seen === 0) throw new Error(`no code section in llvm-readelf -S ${objectPath}:\n${r.stdout}`);
  return bytes / 8;
}

/** The records file the records runs read (200 records, fixed seed), and what they must find in it. */
export const CREF_RECORDS = makeRecords(200, 3);

/** How a sample runs in the guest (the object at OBJ, a per-run scratch name at TAG) and how its loader
 *  JSON is checked: `check` returns what is wrong, or "" when the run did its job. */
export interface CrefRun {
  command: (obj: string, tag: string) => string;
  check: (j: Record<string, any>) => string;
}

const expectEq = (what: string, got: unknown, want: unknown) => (got === want ? "" : `${what} is ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
const all = (...xs: string[]) => xs.filter(Boolean).join("; ");

/** Guest set-up the runs need (run once before them): the cp input. */
export const CREF_SETUP = "head -c 1048576 /dev/urandom > /tmp/cref-in";

export const CREF_RUNS: Record<CrefSample, CrefRun> = {
  nops: {
    command: (obj) => `uringbpf-loader ${obj} --set reqsToRun=1000`,
    check: (j) => all(expectEq("reqsToRun", j.globals?.reqsToRun, 0), expectEq("result", j.globals?.result, 0)),
  },
  cp: {
    command: (obj, tag) => `uringbpf-loader ${obj} --open inFd=/tmp/cref-in --open outFd=/tmp/cref-${tag}:w --buffer buf=4096 && cmp /tmp/cref-in /tmp/cref-${tag}`,
    check: (j) => all(expectEq("result", j.globals?.result, 0), expectEq("copied", Number(j.globals?.copied), 1048576)),
  },
  records: {
    command: (obj) => `uringbpf-loader ${obj} --open inFd=cref-records.bin`,
    check: (j) =>
      all(
        expectEq("status", j.mem?.status, 0),
        expectEq("records", j.mem?.records, CREF_RECORDS.records),
        expectEq("bytes", Number(j.mem?.bytes), CREF_RECORDS.bytes),
        expectEq("checksum", j.mem?.checksum, CREF_RECORDS.checksum),
      ),
  },
  qd: {
    command: (obj) => `uringbpf-loader ${obj} --set depth=4 --mem count=256`,
    check: (j) => all(expectEq("status", j.mem?.status, 0), expectEq("completed", j.mem?.completed, 256), expectEq("maxInflight", j.mem?.maxInflight, 4)),
  },
};

/** The loader's JSON report: the last line of the output that starts with "{". */
export function loaderJson(output: string): Record<string, any> {
  const line = output.split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no JSON line in:\n${output}`);
  return JSON.parse(line);
}
