// The ring API: the ring views (ring.sq()/cq()/submit()/mem(), sq.at(), cq.at()/head/tail, SQE and CQE
// fields, prep helpers, lp.cqWaitIdx) and MEM-region structs and arrays, lowered to kfunc calls and
// loads/stores at the offsets of ring.ts's layout tables. Ring indices are masked with `entries - 1` read
// from the hidden .rodata geometry, so the verifier can prove every access.

import { Node, type CallExpression, type ElementAccessExpression, type Expression, type PropertyAccessExpression } from "ts-morph";
import { SIZE_BYTES } from "../bpf/insn";
import { isImm, type VReg } from "../ir/ir";
import type { LowerContext, Value } from "./context";
import { trapBlock } from "./exits";
import { structLayout, type ArrayLayout, type Slot } from "./layout";
import { CQE_FIELDS, CQE_SHIFT, KFUNC_GET_REGION, KFUNC_SUBMIT, REGION, SQE_FIELDS, SQE_SHIFT, SQE_SIZE, type Field, type RingGlobal } from "./ring";
import { OPCODES, PREPS } from "./uapi";
import { T, typeName, view, widthOf, type IntType, type ViewKind, type ViewOrigin } from "./types";
import { convert, fitsImm, normalizeLoaded, sizeOf, toReg } from "./values";


/** The value of a hidden ring-geometry global (gvn shares repeated loads). */
function ringGlobal(cx: LowerContext, name: RingGlobal): VReg {
  cx.useRingGlobal(name);
  const dst = cx.b.vreg(32, name);
  cx.b.emit({ op: "load", dst, base: cx.b.addr(name), off: 0, size: "W" });
  return dst;
}

/** Store a value of a scalar type at base+off, materialising immediates that the instruction cannot hold. */
export function storeValue(cx: LowerContext, base: VReg, off: number, size: "B" | "H" | "W" | "DW", v: Value): void {
  let src = v.op;
  if (isImm(src) && size === "DW" && !fitsImm(src.imm, 64)) src = { reg: toReg(cx, v) };
  cx.b.emit({ op: "store", base, off, size, src });
}

function viewOf(cx: LowerContext, node: Node, v: Value): ViewKind {
  if (v.type.kind !== "view") cx.fail(node, 2002, `a ${typeName(v.type)} value has no properties`);
  return v.type.view;
}

/** A pointer to element `i & (entries - 1)` of an array of 2^shift-byte elements at base + arrayOff. */
function element(cx: LowerContext, node: Node, base: VReg, index: Expression, entries: RingGlobal, shift: number, arrayOff?: RingGlobal): VReg {
  const i = convert(cx, node, cx.lower.expr(cx, index), T.u32);
  const mask = cx.b.vreg(32, "mask");
  cx.b.emit({ op: "alu", alu: "ADD", width: 32, dst: mask, a: { reg: ringGlobal(cx, entries) }, b: { imm: -1n } });
  const off = cx.b.vreg(32);
  cx.b.emit({ op: "alu", alu: "AND", width: 32, dst: off, a: { reg: mask }, b: i.op });
  cx.b.emit({ op: "alu", alu: "LSH", width: 32, dst: off, a: { reg: off }, b: { imm: BigInt(shift) } });
  if (arrayOff) cx.b.emit({ op: "alu", alu: "ADD", width: 32, dst: off, a: { reg: off }, b: { reg: ringGlobal(cx, arrayOff) } });
  const p = cx.b.vreg(64, undefined, true);
  cx.b.emit({ op: "alu", alu: "ADD", width: 64, dst: p, a: { reg: base }, b: { reg: off } });
  return p;
}

/** A pointer to one of the CQ ring's index words. */
function cqWord(cx: LowerContext, base: VReg, which: "uringbpf_cq_head" | "uringbpf_cq_tail"): VReg {
  const p = cx.b.vreg(64, which === "uringbpf_cq_head" ? "cq_head" : "cq_tail", true);
  cx.b.emit({ op: "alu", alu: "ADD", width: 64, dst: p, a: { reg: base }, b: { reg: ringGlobal(cx, which) } });
  return p;
}

function load(cx: LowerContext, base: VReg, f: Field): Value {
  const dst = cx.b.vreg(widthOf(f.type));
  cx.b.emit({ op: "load", dst, base, off: f.off, size: f.size });
  return normalizeLoaded(cx, { type: f.type, op: { reg: dst } });
}

/** Read `recv.name`. */
export function lowerPropertyAccess(cx: LowerContext, e: PropertyAccessExpression): Value {
  const recv = cx.lower.expr(cx, e.getExpression());
  const name = e.getName();
  const kind = viewOf(cx, e, recv);
  const base = (recv.op as { reg: VReg }).reg;
  if (kind === "sqe" && SQE_FIELDS[name]) return load(cx, base, SQE_FIELDS[name]);
  if (kind === "cqe" && CQE_FIELDS[name]) return load(cx, base, CQE_FIELDS[name]);
  if (kind === "lp" && name === "cqWaitIdx") return load(cx, base, { off: 0, size: "W", type: T.u32 });
  if (kind === "cq" && (name === "head" || name === "tail"))
    return load(cx, cqWord(cx, base, name === "head" ? "uringbpf_cq_head" : "uringbpf_cq_tail"), { off: 0, size: "W", type: T.u32 });
  if (kind === "struct") {
    const f = recv.type.kind === "view" ? recv.type.layout!.fields.get(name) : undefined;
    if (!f) return cx.fail(e.getNameNode(), 2002, `'${name}' is not a field of ${typeName(recv.type)}`);
    return slotValue(cx, base, f.off, f.slot, recv.type.kind === "view" ? recv.type.origin : undefined);
  }
  if (kind === "array" && name === "length") return { type: T.u32, op: { imm: BigInt(recv.type.kind === "view" ? recv.type.array!.count : 0) } };
  if ((kind === "cq" || kind === "sq") && name === "entries")
    return { type: T.u32, op: { reg: ringGlobal(cx, kind === "cq" ? "uringbpf_cq_entries" : "uringbpf_sq_entries") } };
  return cx.fail(e.getNameNode(), 2002, `'${name}' is not a readable property of ${kind}`);
}

/** Write `recv.name = value` (value computed by `compute`, which may read the current value). */
export function storeToProperty(cx: LowerContext, e: Node, target: PropertyAccessExpression, compute: (cur: () => Value) => Value): Value {
  const recv = cx.lower.expr(cx, target.getExpression());
  const name = target.getName();
  const kind = viewOf(cx, target, recv);
  let base = (recv.op as { reg: VReg }).reg;
  let field: Field | undefined;
  if (kind === "sqe") field = SQE_FIELDS[name];
  else if (kind === "lp" && name === "cqWaitIdx") field = { off: 0, size: "W", type: T.u32 };
  else if (kind === "cq" && name === "head") {
    base = cqWord(cx, base, "uringbpf_cq_head");
    field = { off: 0, size: "W", type: T.u32 };
  }
  else if (kind === "struct") {
    const f = recv.type.kind === "view" ? recv.type.layout!.fields.get(name) : undefined;
    if (!f) return cx.fail(target.getNameNode(), 2002, `'${name}' is not a field of ${typeName(recv.type)}`);
    if (f.slot.kind !== "scalar") return cx.fail(target, 2019, `${name} is a ${f.slot.kind}; assign its fields`);
    field = { off: f.off, size: sizeOf(f.slot.type), type: f.slot.type as IntType };
  }
  if (!field) return cx.fail(target.getNameNode(), 2019, `'${name}' of ${kind}`);
  const f = field;
  const v = convert(cx, e, compute(() => load(cx, base, f)), f.type);
  storeValue(cx, base, f.off, f.size, v);
  return v;
}

/** The value of a struct field or array element at base+off: a scalar load, or a view of the inner struct/array. */
function slotValue(cx: LowerContext, base: VReg, off: number, slot: Slot, origin?: ViewOrigin): Value {
  if (slot.kind === "scalar") return load(cx, base, { off, size: sizeOf(slot.type), type: slot.type as IntType });
  const p = cx.b.vreg(64, undefined, true);
  cx.b.emit({ op: "alu", alu: "ADD", width: 64, dst: p, a: { reg: base }, b: { imm: BigInt(off) } });
  return slot.kind === "struct" ? { type: { kind: "view", view: "struct", layout: slot.layout, origin }, op: { reg: p } } : { type: { kind: "view", view: "array", array: slot.array, origin }, op: { reg: p } };
}


/** A pointer to element `index` of an array view, with a bounds check (constant indices are checked
 *  at compile time, others at run time: an index out of range stops the program, see trapBlock). */
export function arrayElement(cx: LowerContext, base: VReg, arr: ArrayLayout, index: Expression): { ptr: VReg; off: number } {
  const i = convert(cx, index, cx.lower.expr(cx, index), T.u32);
  if (isImm(i.op)) {
    if (i.op.imm >= BigInt(arr.count)) cx.fail(index, 2027, `index ${i.op.imm} of an array of ${arr.count}`);
    return { ptr: base, off: Number(i.op.imm) * arr.elem.size };
  }
  // An index masked with a constant below the count (`data[i & 4095]`) is in range: no check (the
  // verifier sees the mask too).
  const reg = i.op.reg;
  const insns = cx.b.current?.insns ?? [];
  let def: (typeof insns)[number] | undefined;
  for (let k = insns.length - 1; k >= 0 && !def; k--) if ("dst" in insns[k] && (insns[k] as { dst?: VReg }).dst?.id === reg.id) def = insns[k];
  const masked = def?.op === "alu" && def.alu === "AND" && isImm(def.b) && def.b.imm >= 0n && def.b.imm < BigInt(arr.count);
  if (!masked) {
    const ok = cx.b.block();
    cx.b.terminate({ op: "br", cmp: "JGE", width: 32, a: i.op.reg, b: { imm: BigInt(arr.count) }, then: trapBlock(cx), else: ok });
    cx.b.setBlock(ok);
  }
  let off = i.op.reg;
  if (arr.elem.size !== 1) {
    off = cx.b.vreg(32);
    cx.b.emit({ op: "alu", alu: "MUL", width: 32, dst: off, a: i.op, b: { imm: BigInt(arr.elem.size) } });
  }
  const p = cx.b.vreg(64, undefined, true);
  cx.b.emit({ op: "alu", alu: "ADD", width: 64, dst: p, a: { reg: base }, b: { reg: off } });
  return { ptr: p, off: 0 };
}

export function arrayOf(cx: LowerContext, e: ElementAccessExpression): { base: VReg; arr: ArrayLayout; index: Expression; origin?: ViewOrigin } {
  const recv = cx.lower.expr(cx, e.getExpression());
  if (recv.type.kind !== "view" || recv.type.view !== "array") return cx.fail(e, 2006, "only FixedArray fields of the MEM region can be indexed");
  const index = e.getArgumentExpression();
  if (!index) return cx.fail(e, 2002, "missing index");
  return { base: (recv.op as { reg: VReg }).reg, arr: recv.type.array!, index, origin: recv.type.origin };
}

/** Read `arr[i]`. */
export function lowerElementAccess(cx: LowerContext, e: ElementAccessExpression): Value {
  const { base, arr, index, origin } = arrayOf(cx, e);
  const el = arrayElement(cx, base, arr, index);
  return slotValue(cx, el.ptr, el.off, arr.elem, origin);
}

/** Write `arr[i] = value`. */
export function storeToElement(cx: LowerContext, e: Node, target: ElementAccessExpression, compute: (cur: () => Value) => Value): Value {
  const { base, arr, index } = arrayOf(cx, target);
  if (arr.elem.kind !== "scalar") return cx.fail(target, 2019, "an array of structs; assign the element's fields");
  const el = arrayElement(cx, base, arr, index);
  const f: Field = { off: el.off, size: sizeOf(arr.elem.type), type: arr.elem.type as IntType };
  const v = convert(cx, e, compute(() => load(cx, el.ptr, f)), f.type);
  storeValue(cx, el.ptr, f.off, f.size, v);
  return v;
}




/** Lower a method call on a ring view: `ring.sq()`, `sq.at(i)`, `sqe.prepNop()`... */
export function lowerMethodCall(cx: LowerContext, e: CallExpression, callee: PropertyAccessExpression, args: Expression[]): Value {
  const recv = cx.lower.expr(cx, callee.getExpression());
  const kind = viewOf(cx, callee, recv);
  const base = (recv.op as { reg: VReg }).reg;
  const method = callee.getName();
  const want = (n: number) => {
    if (args.length !== n) cx.fail(e, 2017, `${kind}.${method}() takes ${n} argument${n === 1 ? "" : "s"}`);
  };
  if (kind === "ring" && (method === "sq" || method === "cq")) {
    want(0);
    const dst = cx.b.vreg(64, method, true);
    const size = method === "sq" ? "uringbpf_sq_size" : "uringbpf_cq_size";
    cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_GET_REGION, args: [{ reg: base }, { imm: BigInt(method === "sq" ? REGION.SQ : REGION.CQ) }, { reg: ringGlobal(cx, size) }], dst });
    return { type: view(method), op: { reg: dst } };
  }
  if (kind === "ring" && method === "mem") {
    want(0);
    const targ = e.getTypeArguments()[0];
    if (!targ || !Node.isTypeReference(targ)) return cx.fail(e, 2003, "ring.mem needs the region's layout", "write ring.mem<Params>() with an interface Params");
    const layout = structLayout(cx, cx.sf, targ, targ.getTypeName().getText());
    const clash = cx.onMemLayout(layout);
    cx.memRoot = layout;
    if (clash) cx.fail(targ, 2003, clash);
    const dst = cx.b.vreg(64, "mem", true);
    cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_GET_REGION, args: [{ reg: base }, { imm: BigInt(REGION.MEM) }, { imm: BigInt(layout.size) }], dst });
    return { type: { kind: "view", view: "struct", layout, origin: "mem" }, op: { reg: dst } };
  }
  if (kind === "ring" && method === "submit") {
    want(1);
    const n = convert(cx, e, cx.lower.expr(cx, args[0]), T.u32);
    const dst = cx.b.vreg(32, "submitted");
    cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_SUBMIT, args: [{ reg: base }, n.op], dst });
    return { type: T.i32, op: { reg: dst } };
  }
  if (kind === "sq" && method === "at") {
    want(1);
    return { type: view("sqe"), op: { reg: element(cx, e, base, args[0], "uringbpf_sq_entries", SQE_SHIFT) } };
  }
  if (kind === "cq" && method === "at") {
    want(1);
    return { type: view("cqe"), op: { reg: element(cx, e, base, args[0], "uringbpf_cq_entries", CQE_SHIFT, "uringbpf_cq_cqes") } };
  }
  if (kind === "sqe" && (method === "prep" || PREPS[method])) return prep(cx, e, base, method, args);
  return cx.fail(callee.getNameNode(), 2002, `'${method}' is not a method of ${kind}`);
}

/** A prep helper from the UAPI table: every byte of the SQE is written (the arguments, the helper's fixed
 *  values, zero elsewhere and -1 for an unused fd). */
function prep(cx: LowerContext, e: CallExpression, sqe: VReg, method: string, args: Expression[]): Value {
  const generic = method === "prep";
  const spec = generic ? undefined : PREPS[method];
  const params = generic ? ["opcode:opcode", "fd:fd", "addr:addr", "len:len", "off:off"] : spec!.params.split(" ").filter(Boolean);
  if (args.length < params.length || args.length > params.length + 1)
    cx.fail(e, 2017, `${method}() takes ${params.length} argument${params.length === 1 ? "" : "s"} and an optional userData`);
  const values: Record<string, Value> = {};
  const field = (f: string) => SQE_FIELDS[f === "addr2" ? "off" : f];
  params.forEach((p, i) => {
    const f = p.split(":")[1];
    values[f === "addr2" ? "off" : f] = convert(cx, args[i], cx.lower.expr(cx, args[i]), field(f).type);
  });
  if (args.length > params.length) values.userData = convert(cx, args[params.length], cx.lower.expr(cx, args[params.length]), T.u64);
  if (spec) values.opcode = { type: T.u8, op: { imm: BigInt(OPCODES.indexOf(spec.op)) } };
  for (const [k, v] of Object.entries(spec?.fixed ?? {})) values[k] = { type: SQE_FIELDS[k].type, op: { imm: v } };
  const get = (k: string): Value => values[k] ?? { type: SQE_FIELDS[k].type, op: { imm: k === "fd" ? -1n : 0n } };
  // Every field, in order; store-merge gathers the constant bytes into the fewest stores.
  // (addr2 is another name of off's bytes.)
  for (const k of Object.keys(SQE_FIELDS)) if (k !== "addr2") storeValue(cx, sqe, SQE_FIELDS[k].off, SQE_FIELDS[k].size, get(k));
  const end = Math.max(...Object.values(SQE_FIELDS).map((f) => f.off + SIZE_BYTES[f.size]));
  for (let off = end; off < SQE_SIZE; off += 8) cx.b.emit({ op: "store", base: sqe, off, size: "DW", src: { imm: 0n } });
  return { type: T.void, op: { imm: 0n } };
}






