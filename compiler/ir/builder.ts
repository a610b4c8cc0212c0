// IR builder: creates virtual registers and blocks and appends instructions at a current position. The front
// end drives it while walking the TypeScript AST; `current === null` means the code is unreachable (after a
// return, break or continue), and instructions added then are dropped.

import type { SourcePos } from "../bpf/insn";
import { successors, type Block, type IrFunction, type IrInsn, type Operand, type Terminator, type VReg, type Width } from "./ir";

/** Distributive Omit over a union of instruction shapes. */
type Without<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;

export class IrBuilder {
  readonly fn: IrFunction;
  current: Block | null;
  /** Source position and loop depth stamped on new instructions. */
  pos: SourcePos | undefined;
  depth = 0;

  constructor(name: string) {
    const entry: Block = { id: 0, insns: [] };
    this.fn = { name, blocks: [entry], entry, nextVReg: 0 };
    this.current = null;
    this.setBlock(entry);
  }

  /** The finished function: blocks reachable from the entry, in layout order. */
  finish(): IrFunction {
    const reach = new Set<Block>();
    const work = [this.fn.entry];
    while (work.length) {
      const b = work.pop()!;
      if (reach.has(b)) continue;
      reach.add(b);
      if (!b.term) throw new Error(`internal: block b${b.id} has no terminator`);
      work.push(...successors(b));
    }
    this.fn.blocks = this.layout.filter((b) => reach.has(b));
    return this.fn;
  }

  /** Reserve a stack object of `size` bytes; returns its slot for `stackaddr`. */
  stackObject(size: number): number {
    this.fn.stackObjects ??= [];
    this.fn.stackObjects.push(size);
    return this.fn.stackObjects.length - 1;
  }

  /** A fresh virtual register. */
  vreg(width: Width, name?: string, ptr = false): VReg {
    return { id: this.fn.nextVReg++, width: ptr ? 64 : width, ptr, name };
  }

  /** A new, not yet placed block. */
  block(): Block {
    const b: Block = { id: this.fn.blocks.length, insns: [] };
    this.fn.blocks.push(b);
    return b;
  }

  /** Blocks in the order they were first placed: the code layout. */
  private layout: Block[] = [];
  private placed = new Set<Block>();

  /** Blocks some reachable terminator jumps to: a join no edge reaches stays unreachable (`enter`). */
  private targeted = new Set<Block>();

  /** Continue emitting into `b`. */
  setBlock(b: Block | null): void {
    if (b && !this.placed.has(b)) {
      this.placed.add(b);
      this.layout.push(b);
    }
    this.current = b;
  }

  /** Append an instruction (dropped when unreachable). */
  emit(i: Without<IrInsn, "pos" | "depth">): void {
    if (!this.current) return;
    this.current.insns.push({ ...i, pos: this.pos, depth: this.depth } as IrInsn);
  }

  /** End the current block with a terminator; the position becomes unreachable. */
  terminate(t: Without<Terminator, "pos" | "depth">): void {
    if (!this.current) return;
    this.current.term = { ...t, pos: this.pos, depth: this.depth } as Terminator;
    for (const s of successors(this.current)) this.targeted.add(s);
    this.setBlock(null);
  }

  /** Continue at the join `b` if some reachable code jumps to it; otherwise the position is unreachable
   *  (after `if (c) return A; else return B;`, a switch whose arms all return, `while (true)` without a
   *  break), as TypeScript's own control-flow analysis says. Only for joins all of whose edges are
   *  already emitted: the exit of a statement, not a loop head. */
  enter(b: Block): void {
    this.setBlock(this.targeted.has(b) ? b : null);
  }

  /** Jump to `b` (if reachable) and continue there, if anything reaches it. */
  jumpTo(b: Block): void {
    this.terminate({ op: "jmp", target: b });
    this.enter(b);
  }

  /** dst = src */
  mov(dst: VReg, src: Operand): void {
    this.emit({ op: "mov", dst, src });
  }

  /** dst = &symbol + offset, in a fresh register (gvn shares repeated addresses). */
  addr(symbol: string, offset = 0): VReg {
    const dst = this.vreg(64, symbol, true);
    this.emit({ op: "addr", dst, symbol, offset });
    return dst;
  }
}
