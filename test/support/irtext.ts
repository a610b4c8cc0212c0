// The IR's dump format (ir.ts dumpFunction) read back: per-pass tests are written as IR text in and IR
// text out. Calls parse as kfunc calls; everything else round-trips.
import type { AluOpName, JmpOpName, SizeName } from "../../compiler/bpf/insn";
import { dumpFunction, type Block, type IrFunction, type IrInsn, type Operand, type Terminator, type VReg } from "../../compiler/ir/ir";

export function parseIr(text: string): IrFunction {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const name = lines[0].replace(/^function /, "");
  const blocks = new Map<number, Block>();
  const block = (id: number) => {
    let b = blocks.get(id);
    if (!b) blocks.set(id, (b = { id, insns: [] }));
    return b;
  };
  const regs = new Map<number, VReg>();
  let maxId = 0;
  const reg = (s: string): VReg => {
    const m = /^%(\d+)(?:\.([\w$]+))?:(p|32|64)$/.exec(s);
    if (!m) throw new Error(`bad register ${s}`);
    const id = Number(m[1]);
    maxId = Math.max(maxId, id + 1);
    let r = regs.get(id);
    if (!r) regs.set(id, (r = { id, width: m[3] === "32" ? 32 : 64, ptr: m[3] === "p", name: m[2] }));
    return r;
  };
  const op = (s: string): Operand => (s.startsWith("%") ? { reg: reg(s) } : { imm: BigInt(s) });
  const order: Block[] = [];
  let cur: Block | undefined;
  const meta = { depth: 0 };
  for (const l of lines.slice(1)) {
    let m: RegExpExecArray | null;
    if ((m = /^b(\d+):$/.exec(l))) {
      cur = block(Number(m[1]));
      order.push(cur);
      continue;
    }
    if (!cur) throw new Error(`instruction outside a block: ${l}`);
    const ins = (i: IrInsn) => cur!.insns.push(i);
    const term = (t: Terminator) => (cur!.term = t);
    if ((m = /^br (j\w+?)(32|64) (\S+), (\S+) \? b(\d+) : b(\d+)$/.exec(l)))
      term({ op: "br", cmp: m[1].toUpperCase() as JmpOpName, width: Number(m[2]) as 32 | 64, a: reg(m[3]), b: op(m[4]), then: block(Number(m[5])), else: block(Number(m[6])), ...meta });
    else if ((m = /^jmp b(\d+)$/.exec(l))) term({ op: "jmp", target: block(Number(m[1])), ...meta });
    else if ((m = /^ret (\S+)$/.exec(l))) term({ op: "ret", value: op(m[1]), ...meta });
    else if ((m = /^maygoto exhausted b(\d+), next b(\d+)$/.exec(l))) term({ op: "maygoto", exhausted: block(Number(m[1])), next: block(Number(m[2])), ...meta });
    else if ((m = /^store\.(\w+) \[(\S+) \+ (-?\d+)\] = (\S+)$/.exec(l))) ins({ op: "store", size: m[1] as SizeName, base: reg(m[2]), off: Number(m[3]), src: op(m[4]), ...meta });
    else if ((m = /^call ([\w$]+)\((.*)\)$/.exec(l))) ins({ op: "call", kind: "kfunc", name: m[1], args: m[2] ? m[2].split(", ").map(op) : [], ...meta });
    else if ((m = /^(\S+) = (.*)$/.exec(l))) {
      const dst = reg(m[1]);
      const rhs = m[2];
      let r: RegExpExecArray | null;
      if ((r = /^(\w+?)(32|64) (\S+), (\S+)$/.exec(rhs)) && r[1] !== "neg") ins({ op: "alu", alu: r[1].toUpperCase() as AluOpName, width: Number(r[2]) as 32 | 64, dst, a: op(r[3]), b: op(r[4]), ...meta });
      else if ((r = /^neg(32|64) (\S+)$/.exec(rhs))) ins({ op: "neg", width: Number(r[1]) as 32 | 64, dst, a: op(r[2]), ...meta });
      else if ((r = /^load\.(\w+) \[(\S+) \+ (-?\d+)\]$/.exec(rhs))) ins({ op: "load", size: r[1] as SizeName, dst, base: reg(r[2]), off: Number(r[3]), ...meta });
      else if ((r = /^&stack(\d+)$/.exec(rhs))) ins({ op: "stackaddr", dst, slot: Number(r[1]), ...meta });
      else if ((r = /^&([\w$]+)\+(-?\d+)$/.exec(rhs))) ins({ op: "addr", dst, symbol: r[1], offset: Number(r[2]), ...meta });
      else if ((r = /^param (\d+)$/.exec(rhs))) ins({ op: "param", dst, index: Number(r[1]), ...meta });
      else if ((r = /^call ([\w$]+)\((.*)\)$/.exec(rhs))) ins({ op: "call", kind: "kfunc", name: r[1], args: r[2] ? r[2].split(", ").map(op) : [], dst, ...meta });
      else if ((r = /^phi (.*)$/.exec(rhs)))
        ins({ op: "phi", dst, args: [...r[1].matchAll(/\[b(\d+): (\S+?)\]/g)].map((a) => ({ block: block(Number(a[1])), value: op(a[2]) })), ...meta });
      else ins({ op: "mov", dst, src: op(rhs), ...meta });
    } else throw new Error(`cannot parse IR line: ${l}`);
  }
  return { name, blocks: order, entry: order[0], nextVReg: maxId };
}

/** The dump of `fn`, as the tests compare it (indentation dropped). */
export function irText(fn: IrFunction): string {
  return dumpFunction(fn).split("\n").map((l) => l.trim()).join("\n");
}

/** Normalise hand-written IR text like irText does. */
export function ir(strings: TemplateStringsArray): string {
  return strings.join("").split("\n").map((l) => l.trim()).filter(Boolean).join("\n");
}
