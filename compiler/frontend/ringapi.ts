// The ring API and calls: conversions (u32(x)...), inlined top-level helper functions, and the ring views
// (ring.sq()/cq()/submit(), sq.at(), cq.at()/head/tail, SQE and CQE fields, prep helpers, lp.cqWaitIdx),
// lowered to kfunc calls and loads/stores at the offsets of ring.ts's layout tables. Ring indices are
// masked with `entries - 1` read from the hidden .rodata geometry, so the verifier can prove every access.

import { Node, type CallExpression, type ElementAccessExpression, type Expression, type FunctionDeclaration, type PropertyAccessExpression } from "ts-morph";
import { isImm, type Block, type VReg } from "../ir/ir";
import { structLayout, type ArrayLayout, type Slot, type StructLayout } from "./layout";
import type { LowerContext, Value } from "./context";
import { convert, fitsImm, lowerExpr, normalizeLoaded, scalarTypeFromName, sizeOf, toReg, unsupported } from "./expressions";
import { CQE_FIELDS, CQE_SHIFT, KFUNC_GET_REGION, KFUNC_SUBMIT, MEM_UADDR_GLOBAL, REGION, SQE_FIELDS, SQE_SHIFT, TRAP_GLOBAL, type Field, type RingGlobal } from "./ring";
import { OPCODES, PREPS } from "./uapi";
import { HELPERS, lowerHelperCall } from "./helpers";
import { ATOMICS, lowerAtomicCall } from "./atomics";
import { lowerMapCall, MAP_CONSTRUCTORS } from "./maps";
import { destroyIterators, lowerBody } from "./statements";
import { isIntName, T, typeName, view, widthOf, type BoolType, type DslType, type IntType, type ViewKind, type ViewOrigin } from "./types";

type Scalar = IntType | BoolType;

/** The value of a hidden ring-geometry global (cached within a block). */
function ringGlobal(cx: LowerContext, name: RingGlobal): VReg {
  cx.useRingGlobal(name);
  return cx.b.cached(`value:${name}`, () => {
    const dst = cx.b.vreg(32, name);
    cx.b.emit({ op: "load", dst, base: cx.b.addr(name), off: 0, size: "W" });
    return dst;
  });
}

/** Store a value of a scalar type at base+off, materialising immediates that the instruction cannot hold. */
export function storeValue(cx: LowerContext, base: VReg, off: number, size: "B" | "H" | "W" | "DW", v: Value): void {
  let src = v.op;
  if (isImm(src) && size === "DW" && !fitsImm(src.imm, 64)) src = { reg: cx.b.cached(`imm:${src.imm}`, () => toReg(cx, v)) };
  cx.b.emit({ op: "store", base, off, size, src });
}

function viewOf(cx: LowerContext, node: Node, v: Value): ViewKind {
  if (v.type.kind !== "view") cx.fail(node, 2002, `a ${typeName(v.type)} value has no properties`);
  return v.type.view;
}

/** A pointer to element `i & (entries - 1)` of an array of 2^shift-byte elements at base + arrayOff. */
function element(cx: LowerContext, node: Node, base: VReg, index: Expression, entries: RingGlobal, shift: number, arrayOff?: RingGlobal): VReg {
  const i = convert(cx, node, lowerExpr(cx, index), T.u32);
  const mask = cx.b.cached(`mask:${entries}`, () => {
    const m = cx.b.vreg(32, "mask");
    cx.b.emit({ op: "alu", alu: "ADD", width: 32, dst: m, a: { reg: ringGlobal(cx, entries) }, b: { imm: -1n } });
    return m;
  });
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
  const recv = lowerExpr(cx, e.getExpression());
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
  const recv = lowerExpr(cx, target.getExpression());
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

/** Stop the program when a run-time check fails: the hidden global uringbpf_trap gets the line number
 *  and loop_step returns STOP. Returns the block to branch to. */
export function trapBlock(cx: LowerContext): Block {
  const t = cx.b.block();
  const saved = cx.b.current;
  cx.b.setBlock(t);
  destroyIterators(cx);
  cx.useRingGlobal(TRAP_GLOBAL);
  cx.mayTrap = true;
  cx.b.emit({ op: "store", base: cx.b.addr(TRAP_GLOBAL), off: 0, size: "W", src: { imm: BigInt(cx.b.pos?.line ?? 0) } });
  // A program stops; a subprogram returns and its caller stops (see subprogCall).
  cx.b.terminate({ op: "ret", value: { imm: cx.frames[0]?.subprog ? 0n : 1n } });
  cx.b.setBlock(saved);
  return t;
}

/** A pointer to element `index` of an array view, with a bounds check (constant indices are checked
 *  at compile time, others at run time: an index out of range stops the program, see trapBlock). */
export function arrayElement(cx: LowerContext, base: VReg, arr: ArrayLayout, index: Expression): { ptr: VReg; off: number } {
  const i = convert(cx, index, lowerExpr(cx, index), T.u32);
  if (isImm(i.op)) {
    if (i.op.imm >= BigInt(arr.count)) cx.fail(index, 2027, `index ${i.op.imm} of an array of ${arr.count}`);
    return { ptr: base, off: Number(i.op.imm) * arr.elem.size };
  }
  const ok = cx.b.block();
  cx.b.terminate({ op: "br", cmp: "JGE", width: 32, a: i.op.reg, b: { imm: BigInt(arr.count) }, then: trapBlock(cx), else: ok });
  cx.b.setBlock(ok);
  const off = cx.b.vreg(32);
  cx.b.emit({ op: "alu", alu: "MUL", width: 32, dst: off, a: i.op, b: { imm: BigInt(arr.elem.size) } });
  const p = cx.b.vreg(64, undefined, true);
  cx.b.emit({ op: "alu", alu: "ADD", width: 64, dst: p, a: { reg: base }, b: { reg: off } });
  return { ptr: p, off: 0 };
}

export function arrayOf(cx: LowerContext, e: ElementAccessExpression): { base: VReg; arr: ArrayLayout; index: Expression; origin?: ViewOrigin } {
  const recv = lowerExpr(cx, e.getExpression());
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

/** `userAddr(p.field)`: the userspace address of a place in the MEM region (for an SQE's buffer
 *  address): the region's user address (hidden global uringbpf_mem_uaddr, set by the loader) plus the
 *  place's offset, computed from the layout along the access path `root.f.g[i].h`. */
function lowerUserAddr(cx: LowerContext, e: CallExpression, args: Expression[]): Value {
  if (args.length !== 1) cx.fail(e, 2017, "userAddr() takes one MEM-region place, e.g. userAddr(p.buf)");
  let constOff = 0n;
  const dynamic: Value[] = [];
  const walk = (x: Expression): StructLayout | ArrayLayout => {
    while (Node.isParenthesizedExpression(x) || Node.isNonNullExpression(x)) x = x.getExpression();
    if (Node.isIdentifier(x)) {
      const v = lowerExpr(cx, x);
      if (v.type.kind !== "view" || v.type.view !== "struct" || !v.type.layout) return cx.fail(x, 2002, "userAddr() needs a place inside the MEM region");
      if (v.type.layout !== cx.memRoot) return cx.fail(x, 2002, "userAddr() paths start at the value of ring.mem<T>()");
      return v.type.layout;
    }
    if (Node.isPropertyAccessExpression(x)) {
      const outer = walk(x.getExpression());
      const f = "fields" in outer ? outer.fields.get(x.getName()) : undefined;
      if (!f) return cx.fail(x.getNameNode(), 2002, `'${x.getName()}' is not a field here`);
      constOff += BigInt(f.off);
      return f.slot.kind === "struct" ? f.slot.layout : f.slot.kind === "array" ? f.slot.array : ({ name: "", size: f.slot.size, align: 1, fields: new Map() } as StructLayout);
    }
    if (Node.isElementAccessExpression(x)) {
      const outer = walk(x.getExpression());
      if (!("count" in outer)) return cx.fail(x, 2006, "only FixedArray fields can be indexed");
      const i = convert(cx, x, lowerExpr(cx, x.getArgumentExpression()!), T.u32);
      if (isImm(i.op)) {
        if (i.op.imm >= BigInt(outer.count)) cx.fail(x, 2027, `index ${i.op.imm} of an array of ${outer.count}`);
        constOff += i.op.imm * BigInt(outer.elem.size);
      } else {
        const ok = cx.b.block();
        cx.b.terminate({ op: "br", cmp: "JGE", width: 32, a: i.op.reg, b: { imm: BigInt(outer.count) }, then: trapBlock(cx), else: ok });
        cx.b.setBlock(ok);
        const scaled = cx.b.vreg(64);
        cx.b.mov(scaled, i.op);
        cx.b.emit({ op: "alu", alu: "MUL", width: 64, dst: scaled, a: { reg: scaled }, b: { imm: BigInt(outer.elem.size) } });
        dynamic.push({ type: T.u64, op: { reg: scaled } });
      }
      const el = outer.elem;
      return el.kind === "struct" ? el.layout : el.kind === "array" ? el.array : ({ name: "", size: el.size, align: 1, fields: new Map() } as StructLayout);
    }
    return cx.fail(x, 2002, "userAddr() needs a place such as p.buf or p.slots[i]");
  };
  walk(args[0]);
  cx.useRingGlobal(MEM_UADDR_GLOBAL);
  const base = cx.b.vreg(64, "mem_uaddr");
  cx.b.emit({ op: "load", dst: base, base: cx.b.addr(MEM_UADDR_GLOBAL), off: 0, size: "DW" });
  const r = cx.b.vreg(64, "uaddr");
  cx.b.emit({ op: "alu", alu: "ADD", width: 64, dst: r, a: { reg: base }, b: { imm: constOff } });
  for (const d of dynamic) cx.b.emit({ op: "alu", alu: "ADD", width: 64, dst: r, a: { reg: r }, b: d.op });
  return { type: T.u64, op: { reg: r } };
}

/** BPF_FUNC_trace_printk. */
const HELPER_TRACE_PRINTK = 6;

/** `trace("fmt", a, b, c)`: bpf_trace_printk with the format in .rodata (a newline is added when missing).
 *  Arguments are widened to 64 bits by their signedness, so %d, %u, %x, %ld, %lld, %llu, %llx all work. */
function lowerTrace(cx: LowerContext, e: CallExpression, args: Expression[]): Value {
  const fmt = args[0];
  if (!fmt || !(Node.isStringLiteral(fmt) || Node.isNoSubstitutionTemplateLiteral(fmt)))
    return cx.fail(fmt ?? e, 2005, "trace() needs a string literal format", 'write trace("x=%d", x)');
  if (args.length > 4) cx.fail(e, 2017, "trace() takes a format and at most 3 values (bpf_trace_printk's limit)");
  let text = fmt.getLiteralText();
  if (!text.endsWith("\n")) text += "\n";
  const values = args.slice(1).map((a) => {
    const v = lowerExpr(cx, a);
    if (v.type.kind !== "int" && v.type.kind !== "bool") return cx.fail(a, 2002, "trace() prints integers");
    const signed = v.type.kind === "int" && v.type.signed;
    return convert(cx, a, v, signed ? T.i64 : T.u64, true).op;
  });
  const sym = cx.addString(text);
  const size = Buffer.byteLength(text, "utf8") + 1;
  cx.b.emit({ op: "call", kind: "helper", name: "bpf_trace_printk", helperId: HELPER_TRACE_PRINTK, args: [{ reg: cx.b.addr(sym) }, { imm: BigInt(size) }, ...values] });
  return { type: T.void, op: { imm: 0n } };
}

/** Lower a call expression. */
export function lowerCall(cx: LowerContext, e: CallExpression): Value {
  const callee = e.getExpression();
  const args = e.getArguments() as Expression[];
  if (Node.isIdentifier(callee)) {
    const bnd = cx.resolve(callee);
    if (bnd?.kind === "import") {
      if (isIntName(bnd.name)) {
        if (args.length !== 1) cx.fail(e, 2017, `${bnd.name}() takes one argument`);
        return convert(cx, e, lowerExpr(cx, args[0]), T[bnd.name], true);
      }
      if (bnd.name === "trace") return lowerTrace(cx, e, args);
      if (bnd.name === "userAddr") return lowerUserAddr(cx, e, args);
      if (HELPERS[bnd.name]) return lowerHelperCall(cx, e, bnd.name, args);
      if (ATOMICS[bnd.name]) return lowerAtomicCall(cx, e, bnd.name, args);
      if (bnd.name === "config" || bnd.name === "loopStep" || MAP_CONSTRUCTORS[bnd.name]) cx.fail(e, 2011, `${bnd.name}() is only allowed at the top level`);
      return cx.fail(callee, 2002, `'${bnd.name}' cannot be called here`);
    }
    if (bnd?.kind === "func") return inlineCall(cx, e, bnd.decl as FunctionDeclaration, args);
    return unsupported(cx, callee);
  }
  if (!Node.isPropertyAccessExpression(callee)) return unsupported(cx, callee);
  const recvExpr = callee.getExpression();
  const recvBinding = Node.isIdentifier(recvExpr) ? cx.resolve(recvExpr) : undefined;
  if (recvBinding?.kind === "map") return lowerMapCall(cx, e, recvBinding.map, callee.getName(), args);
  const recv = lowerExpr(cx, recvExpr);
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
    const n = convert(cx, e, lowerExpr(cx, args[0]), T.u32);
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

/** A prep helper from the UAPI table: every SQE field is written (the arguments, the helper's fixed
 *  values, zero elsewhere and -1 for an unused fd), with constant neighbours merged into wider stores. */
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
    values[f === "addr2" ? "off" : f] = convert(cx, args[i], lowerExpr(cx, args[i]), field(f).type);
  });
  if (args.length > params.length) values.userData = convert(cx, args[params.length], lowerExpr(cx, args[params.length]), T.u64);
  if (spec) values.opcode = { type: T.u8, op: { imm: BigInt(OPCODES.indexOf(spec.op)) } };
  for (const [k, v] of Object.entries(spec?.fixed ?? {})) values[k] = { type: SQE_FIELDS[k].type, op: { imm: v } };
  const get = (k: string): Value => values[k] ?? { type: SQE_FIELDS[k].type, op: { imm: k === "fd" ? -1n : 0n } };
  const constant = (k: string) => (isImm(get(k).op) ? (get(k).op as { imm: bigint }).imm : undefined);
  const store = (k: string) => storeValue(cx, sqe, SQE_FIELDS[k].off, SQE_FIELDS[k].size, get(k));
  // Word 0: opcode, flags, ioprio (one 32-bit store when all are constant).
  const w0 = ["opcode", "flags", "ioprio"].map(constant);
  if (w0.every((x) => x !== undefined)) cx.b.emit({ op: "store", base: sqe, off: 0, size: "W", src: { imm: w0[0]! | (w0[1]! << 8n) | (w0[2]! << 16n) } });
  else ["opcode", "flags", "ioprio"].forEach(store);
  for (const k of ["fd", "off", "addr", "len", "opFlags", "userData"]) store(k);
  // Bytes 40-47: buf_index, personality, splice_fd_in (one 64-bit store of zero when all are zero).
  if (["bufIndex", "personality", "spliceFdIn"].every((k) => constant(k) === 0n)) cx.b.emit({ op: "store", base: sqe, off: 40, size: "DW", src: { imm: 0n } });
  else ["bufIndex", "personality", "spliceFdIn"].forEach(store);
  store("addr3");
  cx.b.emit({ op: "store", base: sqe, off: 56, size: "DW", src: { imm: 0n } });
  return { type: T.void, op: { imm: 0n } };
}

/** Whether a helper is compiled as a BPF subprogram (JSDoc tag `@noinline`) instead of inlined. */
export function isNoInline(decl: FunctionDeclaration): boolean {
  return decl.getJsDocs().some((d) => d.getTags().some((t) => t.getTagName() === "noinline"));
}

/** The DSL types of a helper's parameters and result. */
export function signature(cx: LowerContext, decl: FunctionDeclaration): { params: DslType[]; ret: DslType } {
  const params = decl.getParameters().map((p) => declaredType(cx, p.getTypeNode() ?? p, p.getTypeNode()?.getText()));
  const retText = decl.getReturnTypeNode()?.getText();
  const ret: DslType = retText === undefined || retText === "void" ? T.void : declaredType(cx, decl.getReturnTypeNode()!, retText);
  if (ret.kind === "view") cx.fail(decl.getReturnTypeNode()!, 2018, "helpers cannot return ring views");
  return { params, ret };
}

/** Call a helper compiled as a BPF subprogram (BPF-to-BPF call, arguments in r1-r5, result in r0). */
function subprogCall(cx: LowerContext, e: CallExpression, decl: FunctionDeclaration, args: Expression[]): Value {
  const sig = signature(cx, decl);
  if (args.length !== sig.params.length) cx.fail(e, 2017, `${decl.getName()}() takes ${sig.params.length} argument${sig.params.length === 1 ? "" : "s"}`);
  if (sig.params.length > 5) cx.fail(decl, 2017, "a @noinline function takes at most 5 parameters (BPF passes arguments in r1-r5)");
  const ops = args.map((a, i) => {
    const t = sig.params[i];
    const v = lowerExpr(cx, a);
    if (t.kind === "view") {
      if (v.type.kind !== "view" || typeName(v.type) !== typeName(t)) cx.fail(a, 2002, `expected ${typeName(t)}`);
      return v.op;
    }
    return convert(cx, a, v, t as Scalar).op;
  });
  const { mayTrap } = cx.requestSubprog(decl);
  const dst = sig.ret.kind === "void" ? undefined : cx.b.vreg(widthOf(sig.ret), "ret");
  cx.b.emit({ op: "call", kind: "subprog", name: decl.getName()!, args: ops, dst });
  if (mayTrap) {
    // The callee stopped at a failed check: stop here too (the trap global already names the line).
    const flag = cx.b.vreg(32, "trap");
    cx.b.emit({ op: "load", dst: flag, base: cx.b.addr(TRAP_GLOBAL), off: 0, size: "W" });
    const ok = cx.b.block();
    const stop = cx.b.block();
    cx.b.terminate({ op: "br", cmp: "JNE", width: 32, a: flag, b: { imm: 0n }, then: stop, else: ok });
    cx.b.setBlock(stop);
    cx.mayTrap = true;
    destroyIterators(cx);
    cx.b.terminate({ op: "ret", value: { imm: cx.frames[0]?.subprog ? 0n : 1n } });
    cx.b.setBlock(ok);
  }
  return dst ? { type: sig.ret, op: { reg: dst } } : { type: T.void, op: { imm: 0n } };
}

/** Inline a call of a top-level helper function. */
function inlineCall(cx: LowerContext, e: CallExpression, decl: FunctionDeclaration, args: Expression[]): Value {
  if (isNoInline(decl)) return subprogCall(cx, e, decl, args);
  if (cx.frames.some((f) => f.fnDecl === decl)) cx.fail(e, 2013, decl.getName());
  const params = decl.getParameters();
  if (args.length !== params.length) cx.fail(e, 2017, `${decl.getName()}() takes ${params.length} argument${params.length === 1 ? "" : "s"}`);
  const locals = new Map<object, import("./context").Binding>();
  params.forEach((p, i) => {
    const t = declaredType(cx, p.getTypeNode() ?? p, p.getTypeNode()?.getText());
    const v = lowerExpr(cx, args[i]);
    if (t.kind === "view") {
      if (v.type.kind !== "view" || v.type.view !== t.view) cx.fail(args[i], 2002, `expected ${t.view}`);
      locals.set(p.compilerNode, { kind: "local", type: t, reg: (v.op as { reg: VReg }).reg, mutable: false });
      return;
    }
    const reg = cx.b.vreg(widthOf(t), p.getName());
    cx.b.mov(reg, convert(cx, args[i], v, t as Scalar).op);
    locals.set(p.compilerNode, { kind: "local", type: t, reg, mutable: true });
  });
  const retText = decl.getReturnTypeNode()?.getText();
  const retType: DslType = retText === undefined || retText === "void" ? T.void : declaredType(cx, decl.getReturnTypeNode()!, retText);
  if (retType.kind === "view") cx.fail(decl.getReturnTypeNode()!, 2018, "helpers cannot return ring views");
  const done = cx.b.block();
  const reg = retType.kind === "void" ? undefined : cx.b.vreg(widthOf(retType), "ret");
  const savedLoops = cx.loops.splice(0);
  const savedPos = cx.b.pos;
  const errorsBefore = cx.diagnostics.length;
  cx.frames.push({ locals, ret: { block: done, reg, type: retType, fnName: decl.getName() ?? "" }, fnDecl: decl });
  try {
    lowerBody(cx, decl.getBody() as Node);
    if (cx.b.current) {
      if (reg && cx.diagnostics.length === errorsBefore) cx.fail(decl.getNameNode() ?? decl, 2024, `${decl.getName()} can end without returning a value`);
      cx.b.terminate({ op: "jmp", target: done });
    }
  } finally {
    cx.frames.pop();
    cx.loops.push(...savedLoops);
    cx.b.pos = savedPos;
  }
  cx.b.setBlock(done);
  return reg ? { type: retType, op: { reg } } : { type: T.void, op: { imm: 0n } };
}

const VIEW_NAMES: Record<string, ViewKind> = { Ring: "ring", LoopParams: "lp", Sq: "sq", Cq: "cq", Sqe: "sqe", Cqe: "cqe" };

/** The DSL type a type annotation names. */
export function declaredType(cx: LowerContext, node: Node, text: string | undefined): DslType {
  if (text === undefined) return cx.fail(node, 2003, "a type annotation is required here", "annotate it, e.g. `x: u32`");
  const s = scalarTypeFromName(text.trim());
  if (s) return s;
  if (VIEW_NAMES[text.trim()]) return view(VIEW_NAMES[text.trim()]);
  if (Node.isTypeReference(node) && (cx.sf.getInterface(text.trim()) || cx.sf.getTypeAlias(text.trim())))
    return { kind: "view", view: "struct", layout: structLayout(cx, cx.sf, node, text.trim()) };
  if (text.trim() === "number") return cx.fail(node, 2003, "number", "say which integer: u32, i32, ...");
  if (text.trim() === "bigint") return cx.fail(node, 2003, "bigint", "say which integer: u64 or i64");
  return cx.fail(node, 2003, text);
}
