// The engine's reference semantics against the kernel, in one VM boot: the cpu v4 table (every v4
// instruction over edge values, test/support/asm.ts) must give the kernel's results in the interpreter,
// and every object the engine's structural check refuses must be refused by the kernel verifier too (so
// the check never refuses what the kernel would run). Skipped with a message without a kernel or QEMU,
// except under CI, where their absence is a failure.
import * as fs from "fs";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { runInVm, type VmCase, type VmRunResult } from "../runtime/vm/vm";
import { VerifyError } from "../runtime/engine/verify";
import { runOnFakeRing } from "./support/fakering";
import { assemble, BAD_CODE, buildV4Table, outValues, STACK_CARRY } from "./support/asm";
import { kernelTestsCanRun } from "./support/kernelgate";

const root = path.join(__dirname, "..");
const canRun = kernelTestsCanRun("the engine-vs-kernel tests");

const table = buildV4Table();
const bad = [...BAD_CODE.map((c) => ({ name: c.name, object: assemble(c.code) })), { name: "stack carried over between calls", object: assemble(STACK_CARRY, 2) }];
let run: VmRunResult;

function loaderJson(output: string): Record<string, any> {
  const line = output.split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no JSON line in:\n${output}`);
  return JSON.parse(line);
}

beforeAll(async () => {
  if (!canRun) return;
  const cases: VmCase[] = [{ id: "v4", command: "uringbpf-loader v4.o", files: [{ guestPath: "v4.o", data: table.object }] }];
  bad.forEach((b, i) => cases.push({ id: `bad-${i}`, command: `uringbpf-loader bad${i}.o`, files: [{ guestPath: `bad${i}.o`, data: b.object }] }));
  run = await runInVm(cases, { timeoutMs: 20 * 60_000 });
}, 25 * 60_000);

describe.skipIf(!canRun)("the engine against the 7.x kernel", () => {
  it(`the cpu v4 table (${table.labels.length} results) is the kernel's`, () => {
    const r = run.byId.get("v4")!;
    expect(r.exitCode).toBe(0);
    const kernel = outValues(loaderJson(r.output).globals.out);
    const engine = outValues(runOnFakeRing(table.object).result.globals.out);
    expect(kernel).toHaveLength(table.labels.length);
    const diff = table.labels.flatMap((l, i) => (kernel[i] === engine[i] ? [] : [`${l}: kernel ${BigInt.asIntN(64, kernel[i])}, engine ${BigInt.asIntN(64, engine[i])}`]));
    expect(diff).toEqual([]);
  });

  it.each(bad.map((b, i) => [b.name, i] as const))("the kernel refuses what the engine refuses: %s", (_name, i) => {
    const r = run.byId.get(`bad-${i}`)!;
    let err: unknown;
    try {
      runOnFakeRing(bad[i].object);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerifyError);
    // Reads of unwritten stack: the verifier refuses them only without CAP_PERFMON; the root loader's
    // load passes and the program reads leftover kernel stack. The engine refuses them regardless.
    const privileged = (err as VerifyError).privilegedAccepts;
    expect([r.exitCode, loaderJson(r.output).ok]).toEqual(privileged ? [0, true] : [4, false]);
  });
});
