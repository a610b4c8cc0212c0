// An unrolled counted loop that indexes with a masked counter (`data[i & 63]`, the verifier's idiom):
// its group of copies runs only while no copy's mask can change the index (i <= 63 - (copies - 1)), so
// range-fold drops the copies' masks and they read one address at consecutive offsets. The masks still
// wrap where the loop goes past the array: the single-iteration path keeps its mask, and every run below
// crosses both the guard's bound and the wrap.
import { describe, expect, it } from "vitest";
import { compileSource, formatDiagnostics, programAsm } from "../../compiler/index";
import { runOnFakeRing } from "../support/fakering";

const SOURCE = `
import { loopStep, u8, u32, FixedArray, STOP } from "uringbpf";
interface Mem { data: FixedArray<u8, 64> }
export let start: u32 = 0;
export let n: u32 = 0;
export let sum: u32 = 0;
export const p = loopStep((ring, lp) => {
  const m = ring.mem<Mem>();
  if (m === null) return STOP;
  let s: u32 = 0;
  const data = m.data;
  const end = n;
  for (let i: u32 = start; i < end; i++) s += u32(data[i & 63]);
  sum = s;
  return STOP;
});
`;

const byte = (k: number) => (k * 37 + 11) & 255;

describe("mask guard (unrolled copies of a masked-counter loop)", () => {
  const res = compileSource("mask-guard.ts", SOURCE, { typeCheck: false });
  if (!res.ok) throw new Error(formatDiagnostics(res.diagnostics));
  const asm = programAsm(res.programs[0], false);

  it("the copies read one address at consecutive offsets, unmasked; only the single iteration masks", () => {
    const guard = /if w\d > (\d+) goto/.exec(asm);
    expect(guard, asm).not.toBeNull();
    const copies = 64 - Number(guard![1]);
    expect(copies).toBeGreaterThan(1);
    expect(asm.match(/&= 63/g)?.length, asm).toBe(1);
    const loads = [...asm.matchAll(/= \*\(u8 \*\)\((r\d) \+ (\d+)\)/g)].map((m) => Number(m[2]));
    expect(loads.length, asm).toBe(copies + 1);
    const first = Math.min(...loads);
    expect(loads.slice(0, copies)).toEqual([...Array(copies)].map((_, k) => first + k));
  });

  it("the sum keeps one register around the loop: both back edges go straight to the may_goto, no copy at the head", () => {
    const head = Number(/(\d+): may_goto/.exec(asm)![1]);
    // The head may start with the zero-extensions loopheads.ts puts there (`w4 = w4`): not copies.
    let entry = head;
    for (;;) {
      const m = new RegExp(`\\n\\s*${entry - 1}: w(\\d+) = w(\\d+)\\n`).exec(asm);
      if (!m || m[1] !== m[2]) break;
      entry--;
    }
    const back = [...asm.matchAll(/(\d+): goto -\d+ <(\d+)>/g)].map((m) => [Number(m[1]), Number(m[2])]).filter(([at, to]) => at > head && to >= head - 4 && to <= head);
    expect(back.map(([, to]) => to), asm).toEqual([entry, entry]);
  });

  it.each([
    [0, 0],
    [0, 1],
    [0, 64],
    [0, 200],
    [50, 70],
    [57, 131],
    [63, 64],
    [60, 300],
  ])("start %i, n %i: the sum of data[i & 63] over start <= i < n", (start, n) => {
    let want = 0;
    for (let i = start; i < n; i++) want = (want + byte(i & 63)) >>> 0;
    const r = runOnFakeRing(res, { set: { start, n }, mem: 4096, memInit: (b) => b.forEach((_, k) => (b[k] = k < 64 ? byte(k) : 0)) });
    expect(r.get("sum")).toBe(BigInt(want));
  });
});
