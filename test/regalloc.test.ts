// Register allocation: conservative coalescing (codegen/regalloc.ts) gives both ends of more copies one
// register than move preferences alone, without spilling more. Measured on records' optimized IR (the
// copies out-of-ssa leaves for its loops' phis and joins).
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { allocate } from "../compiler/codegen/regalloc";
import { isImm } from "../compiler/ir/ir";
import { compileSource } from "../compiler/index";
import { parseIr } from "./support/irtext";

/** Copies between two values that got different registers (each is an instruction), and the stack used. */
function allocated(irText: string, coalesce: boolean): { moves: number; stack: number } {
  const fn = parseIr(irText);
  const a = allocate(fn, "cost", coalesce);
  let moves = 0;
  for (const b of fn.blocks) for (const i of b.insns) if (i.op === "mov" && !isImm(i.src) && i.src.reg.id >= 0 && a.reg.get(i.dst.id) !== a.reg.get(i.src.reg.id)) moves++;
  return { moves, stack: a.stackSize };
}

describe("register allocation", () => {
  it("coalescing leaves fewer copies in records than move preferences alone, and no more stack", () => {
    const file = path.join(__dirname, "..", "samples", "records.ts");
    const res = compileSource("records.ts", fs.readFileSync(file, "utf8"), { ir: true });
    expect(res.ok).toBe(true);
    const text = res.programs[0].ir!;
    const plain = allocated(text, false);
    const coalesced = allocated(text, true);
    expect(coalesced.moves).toBeLessThan(plain.moves);
    expect(coalesced.stack).toBeLessThanOrEqual(plain.stack);
  });
});
