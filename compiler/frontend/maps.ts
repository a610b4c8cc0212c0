// BPF maps in the DSL: top-level `arrayMap<V>(n)`, `hashMap<K, V>(n)` and `ringBuf<R>(bytes)` declarations
// (emitted as libbpf BTF-defined maps in `.maps` by the linker), their methods lowered to the map helpers
// (keys and values are built in stack objects, the map is an ld_imm64 relocated against its symbol), and
// the verifier's reference rules checked on the IR before code generation: a reserved ring-buffer record
// is submitted or discarded on every path and not used after that, a looked-up value is tested against
// null before use, and a map value is not used after a delete() on the same map.

import { Node, type CallExpression, type Expression, type TypeNode } from "ts-morph";
import type { SizeName } from "../bpf/insn";
import { diag, type Diagnostic } from "../diagnostics/diagnostics";
import { isImm, successors, type Block, type IrFunction, type IrInsn, type Operand, type VReg } from "../ir/ir";
import type { MapDef } from "../ir/module";
import type { LowerContext, Value } from "./context";
import { convert, normalizeLoaded, sizeOf } from "./values";
import { slotOf, type Slot, type StructLayout } from "./layout";
import { T, typeName, type ViewType } from "./types";

/** BPF_MAP_TYPE_* of the map kinds a sleepable struct_ops program may use. */
export const MAP_TYPE = { hash: 1, array: 2, ringbuf: 27 } as const;
export type MapKind = keyof typeof MAP_TYPE;

/** The declaring functions, by exported name. */
export const MAP_CONSTRUCTORS: Record<string, MapKind> = Object.setPrototypeOf({ arrayMap: "array", hashMap: "hash", ringBuf: "ringbuf" }, null);

/** Map types the verifier refuses in sleepable programs ("Sleepable programs can only use array, hash,
 *  ringbuf and local storage maps"), named so a program that asks for one gets a clear diagnostic. */
export const SLEEPABLE_FORBIDDEN: Record<string, string> = Object.setPrototypeOf({
  perfEventArray: "BPF_MAP_TYPE_PERF_EVENT_ARRAY",
  stackTraceMap: "BPF_MAP_TYPE_STACK_TRACE",
  progArray: "BPF_MAP_TYPE_PROG_ARRAY",
  sockMap: "BPF_MAP_TYPE_SOCKMAP",
  devMap: "BPF_MAP_TYPE_DEVMAP",
  cpuMap: "BPF_MAP_TYPE_CPUMAP",
  xskMap: "BPF_MAP_TYPE_XSKMAP",
  lpmTrie: "BPF_MAP_TYPE_LPM_TRIE",
}, null);

/** BPF helper ids used by the map methods. */
export const MAP_HELPER = { lookup: 1, update: 2, delete: 3, ringbufOutput: 130, ringbufReserve: 131, ringbufSubmit: 132, ringbufDiscard: 133 } as const;

/** A map declared at the top level (the IR module's MapDef is made from it by mapDef). */
export interface MapDecl {
  name: string;
  kind: MapKind;
  maxEntries: number;
  /** Key layout (arrays: u32). Absent for ring buffers. */
  key?: Slot;
  /** Value layout (the record type for ring buffers). */
  value: Slot;
  /** The struct a lookup()/reserve() view sees: the value's own layout, or a Cell { value } around an integer. */
  view: StructLayout;
  exported: boolean;
}

/** The IR module's description of a map. */
export function mapDef(m: MapDecl): MapDef {
  return { name: m.name, kind: m.kind, mapType: MAP_TYPE[m.kind], maxEntries: m.maxEntries, key: m.key, value: m.value, exported: m.exported };
}

/** Declare `name = arrayMap<V>(n)` / `hashMap<K, V>(n)` / `ringBuf<R>(bytes)` at the top level. */
export function declareMap(cx: LowerContext, name: string, call: CallExpression, kind: MapKind, exported: boolean): MapDecl {
  const targs = call.getTypeArguments();
  const want = kind === "hash" ? 2 : 1;
  const ctor = Object.keys(MAP_CONSTRUCTORS).find((k) => MAP_CONSTRUCTORS[k] === kind)!;
  if (targs.length !== want) cx.fail(call, 2054, `${ctor} needs ${kind === "hash" ? "the key and value types: hashMap<K, V>(n)" : kind === "array" ? "the value type: arrayMap<V>(n)" : "the record type: ringBuf<R>(bytes)"}`);
  const args = call.getArguments();
  if (args.length !== 1) cx.fail(call, 2017, `${ctor}() takes ${kind === "ringbuf" ? "the buffer size in bytes" : "the number of entries"}`);
  const n = cx.lower.expr(cx, args[0] as Expression);
  if (!isImm(n.op) || n.type.kind !== "int") return cx.fail(args[0], 2022, `the size of ${name}`);
  const count = Number(n.op.imm);
  if (!Number.isSafeInteger(count) || count <= 0 || count > 0x7fffffff) cx.fail(args[0], 2054, `${count} entries`, "a map holds between 1 and 2^31-1 entries");
  if (kind === "ringbuf" && (count < 4096 || (count & (count - 1)) !== 0))
    cx.fail(args[0], 2054, `a ring buffer of ${count} bytes`, "the kernel wants a power of two and a multiple of the page size (4096, 8192, ...)");
  const slot = (t: TypeNode, what: string): Slot => {
    const s = slotOf(cx, t);
    if (s.kind === "scalar" && s.type.kind === "bool") cx.fail(t, 2054, `a bool ${what}`, "use u8 for a flag");
    if (s.kind === "array") cx.fail(t, 2054, `a FixedArray ${what}`, "wrap the array in an interface");
    return s;
  };
  const key = kind === "hash" ? slot(targs[0], "key") : kind === "array" ? ({ kind: "scalar", type: T.u32, size: 4, align: 4 } as Slot) : undefined;
  const value = slot(targs[want - 1], kind === "ringbuf" ? "record" : "value");
  if (kind === "ringbuf" && value.kind !== "struct") cx.fail(targs[0], 2054, "a ring-buffer record that is not an interface", "declare the record as an interface of integer fields");
  const view: StructLayout = value.kind === "struct" ? value.layout : { name: `Cell<${typeName(value.kind === "scalar" ? value.type : T.u32)}>`, size: value.size, align: value.align, fields: new Map([["value", { off: 0, slot: value }]]) };
  return { name, kind, maxEntries: count, key, value, view, exported };
}

/** Per-IR-instruction facts for the reference checker: which map a helper call works on. */
const callMap = new WeakMap<object, string>();

function viewOf(map: MapDecl, kind: "value" | "record"): ViewType {
  return { kind: "view", view: "struct", layout: map.view, origin: { map: map.name, kind } };
}

/** Write `value` (an object literal, or an integer for an integer slot) into stack memory at base+off. */
function writeSlot(cx: LowerContext, e: Expression, slot: Slot, base: VReg, off: number, covered: Uint8Array): void {
  while (Node.isParenthesizedExpression(e) || Node.isAsExpression(e) || Node.isSatisfiesExpression(e)) e = e.getExpression();
  if (slot.kind === "scalar") {
    const v = convert(cx, e, cx.lower.expr(cx, e), slot.type);
    storeAt(cx, base, off, sizeOf(slot.type), v);
    covered.fill(1, off, off + slot.size);
    return;
  }
  if (slot.kind === "array") {
    if (!Node.isArrayLiteralExpression(e)) cx.fail(e, 2054, "a FixedArray field needs an array literal here");
    const elems = e.getElements();
    if (elems.length > slot.array.count) cx.fail(e, 2027, `${elems.length} elements for a FixedArray of ${slot.array.count}`);
    elems.forEach((x, i) => writeSlot(cx, x as Expression, slot.array.elem, base, off + i * slot.array.elem.size, covered));
    return;
  }
  if (!Node.isObjectLiteralExpression(e)) return cx.fail(e, 2054, `a ${slot.layout.name} value needs an object literal such as { field: value }`);
  for (const p of e.getProperties()) {
    if (!Node.isPropertyAssignment(p) && !Node.isShorthandPropertyAssignment(p)) cx.fail(p, 2054, "only `field: value` properties");
    const name = p.getName();
    const f = slot.layout.fields.get(name);
    if (!f) cx.fail(p, 2002, `'${name}' is not a field of ${slot.layout.name}`);
    if (Node.isPropertyAssignment(p)) {
      writeSlot(cx, p.getInitializerOrThrow(), f!.slot, base, off + f!.off, covered);
      continue;
    }
    // `{ kind }`: the local (or global, constant) named like the field.
    const decl = p.getValueSymbol()?.getDeclarations()[0];
    const bnd = decl ? cx.frame?.locals.get(decl.compilerNode) ?? cx.globals.get(decl.compilerNode) : undefined;
    if (f!.slot.kind !== "scalar" || !bnd || (bnd.kind !== "local" && bnd.kind !== "const" && bnd.kind !== "global"))
      cx.fail(p, 2054, `the shorthand { ${name} } needs an integer variable named ${name}`, `write ${name}: value`);
    const v: Value =
      bnd.kind === "local" ? { type: bnd.type, op: { reg: bnd.reg } } : bnd.kind === "const" ? { type: bnd.type ?? T.i32, op: { imm: bnd.value }, literal: bnd.type ? undefined : bnd.literal ?? "number" } : loadGlobal(cx, bnd.global);
    storeAt(cx, base, off + f!.off, sizeOf(f!.slot.type), convert(cx, p, v, f!.slot.type));
    covered.fill(1, off + f!.off, off + f!.off + f!.slot.size);
  }
}

function loadGlobal(cx: LowerContext, g: import("./context").GlobalVar): Value {
  const dst = cx.b.vreg(g.type.kind === "int" && g.type.bits === 64 ? 64 : 32, g.name);
  cx.b.emit({ op: "load", dst, base: cx.b.addr(g.name), off: 0, size: sizeOf(g.type) });
  return normalizeLoaded(cx, { type: g.type, op: { reg: dst } });
}

function storeAt(cx: LowerContext, base: VReg, off: number, size: SizeName, v: Value): void {
  let src: Operand = v.op;
  if (isImm(src) && size === "DW" && BigInt.asIntN(64, src.imm) !== BigInt.asIntN(32, src.imm)) {
    const r = cx.b.vreg(64);
    cx.b.mov(r, src);
    src = { reg: r };
  }
  cx.b.emit({ op: "store", base, off, size, src });
}

/** Stack objects for helper arguments, per function: an object is needed only during its call, so later
 *  calls reuse it (each call takes free objects and gives them back when its helper call is emitted). */
const stackPools = new WeakMap<object, { slot: number; size: number; busy: boolean }[]>();

/** A stack object holding `e` laid out as `slot`; returns its address and the object to give back. The
 *  verifier wants every byte a helper reads initialised: bytes the value's stores leave uncovered (struct
 *  padding) are zeroed. */
function stackValue(cx: LowerContext, e: Expression, slot: Slot, taken: { busy: boolean }[]): VReg {
  const size = Math.ceil(slot.size / 8) * 8;
  let pool = stackPools.get(cx.b.fn);
  if (!pool) stackPools.set(cx.b.fn, (pool = []));
  let obj = pool.find((o) => !o.busy && o.size >= size);
  if (!obj) pool.push((obj = { slot: cx.b.stackObject(size), size, busy: false }));
  obj.busy = true;
  taken.push(obj);
  const p = cx.b.vreg(64, "stack", true);
  cx.b.emit({ op: "stackaddr", dst: p, slot: obj.slot });
  const covered = new Uint8Array(slot.size);
  writeSlot(cx, e, slot, p, 0, covered);
  for (let o = 0; o < slot.size; ) {
    if (covered[o]) {
      o++;
      continue;
    }
    // The largest naturally aligned run of uncovered bytes starting here.
    let n = 8;
    while (n > 1 && (o % n !== 0 || o + n > slot.size || covered.subarray(o, o + n).some((x) => x))) n >>= 1;
    cx.b.emit({ op: "store", base: p, off: o, size: ({ 1: "B", 2: "H", 4: "W", 8: "DW" } as const)[n as 1 | 2 | 4 | 8], src: { imm: 0n } });
    o += n;
  }
  return p;
}

/** Lower `map.method(args)` for a map declared at the top level. */
export function lowerMapCall(cx: LowerContext, e: CallExpression, map: MapDecl, method: string, args: Expression[]): Value {
  const arity = (min: number, max: number, text: string) => {
    if (args.length < min || args.length > max) cx.fail(e, 2017, `${map.name}.${method}() takes ${text}`);
  };
  const mapReg = () => cx.b.addr(map.name);
  const taken: { busy: boolean }[] = [];
  const call = (helper: number, name: string, ops: Operand[], dst?: VReg) => {
    cx.b.emit({ op: "call", kind: "helper", name, helperId: helper, args: ops, dst });
    for (const o of taken) o.busy = false;
    const insns = cx.b.current?.insns;
    if (insns?.length) callMap.set(insns[insns.length - 1], map.name);
  };
  const flags = (i: number): Operand => (args[i] ? convert(cx, args[i], convert(cx, args[i], cx.lower.expr(cx, args[i]), T.u32), T.u64, true).op : { imm: 0n });
  const result = (r: VReg): Value => ({ type: T.i32, op: { reg: r } });
  if (map.kind !== "ringbuf") {
    if (method === "lookup") {
      arity(1, 1, "a key");
      const k = stackValue(cx, args[0], map.key!, taken);
      const dst = cx.b.vreg(64, `${map.name}_value`, true);
      call(MAP_HELPER.lookup, "bpf_map_lookup_elem", [{ reg: mapReg() }, { reg: k }], dst);
      return { type: viewOf(map, "value"), op: { reg: dst } };
    }
    if (method === "update") {
      arity(2, 3, "a key, a value and optional flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST)");
      const k = stackValue(cx, args[0], map.key!, taken);
      const v = stackValue(cx, args[1], map.value, taken);
      const f = flags(2);
      const dst = cx.b.vreg(32, "updated");
      call(MAP_HELPER.update, "bpf_map_update_elem", [{ reg: mapReg() }, { reg: k }, { reg: v }, f], dst);
      return result(dst);
    }
    if (method === "delete") {
      if (map.kind === "array") cx.fail(e, 2054, `${map.name} is an array map: its entries cannot be deleted`, "store a zero value with update()");
      arity(1, 1, "a key");
      const k = stackValue(cx, args[0], map.key!, taken);
      const dst = cx.b.vreg(32, "deleted");
      call(MAP_HELPER.delete, "bpf_map_delete_elem", [{ reg: mapReg() }, { reg: k }], dst);
      return result(dst);
    }
    return cx.fail(e.getExpression(), 2002, `'${method}' is not a method of ${map.kind} map ${map.name} (lookup, update${map.kind === "hash" ? ", delete" : ""})`);
  }
  if (method === "output") {
    arity(1, 2, "a record and optional flags");
    const r = stackValue(cx, args[0], map.value, taken);
    const dst = cx.b.vreg(32, "output");
    call(MAP_HELPER.ringbufOutput, "bpf_ringbuf_output", [{ reg: mapReg() }, { reg: r }, { imm: BigInt(map.value.size) }, flags(1)], dst);
    return result(dst);
  }
  if (method === "reserve") {
    arity(0, 0, "no arguments");
    const dst = cx.b.vreg(64, `${map.name}_record`, true);
    call(MAP_HELPER.ringbufReserve, "bpf_ringbuf_reserve", [{ reg: mapReg() }, { imm: BigInt(map.value.size) }, { imm: 0n }], dst);
    return { type: viewOf(map, "record"), op: { reg: dst } };
  }
  if (method === "submit" || method === "discard") {
    arity(1, 2, "the reserved record and optional flags");
    const rec = cx.lower.expr(cx, args[0]);
    const o = rec.type.kind === "view" ? rec.type.origin : undefined;
    if (typeof o !== "object" || o.kind !== "record" || o.map !== map.name) cx.fail(args[0], 2055, `${args[0].getText()} is not a record reserved from ${map.name}`);
    call(method === "submit" ? MAP_HELPER.ringbufSubmit : MAP_HELPER.ringbufDiscard, `bpf_ringbuf_${method}`, [rec.op, flags(1)]);
    return { type: T.void, op: { imm: 0n } };
  }
  return cx.fail(e.getExpression(), 2002, `'${method}' is not a method of ring buffer ${map.name} (output, reserve, submit, discard)`);
}

// ---------- the reference checker ----------

type RefState = "null" | "live" | "released" | "stale";
interface Ref {
  id: number;
  kind: "record" | "value";
  map: string;
  at: IrInsn;
}
/** What is known at a program point: which registers point into which reference, and each reference's
 *  possible states (a set: the union over the paths reaching the point). */
interface State {
  alias: Map<number, number>;
  states: Map<number, Set<RefState>>;
}

function cloneState(s: State): State {
  return { alias: new Map(s.alias), states: new Map([...s.states].map(([k, v]) => [k, new Set(v)])) };
}

/** Merge `b` into `a`; returns whether `a` changed. */
function mergeInto(a: State, b: State): boolean {
  let changed = false;
  for (const [r, id] of [...a.alias]) if (b.alias.get(r) !== id) {
    a.alias.delete(r);
    changed = true;
  }
  for (const [id, set] of b.states) {
    let cur = a.states.get(id);
    if (!cur) a.states.set(id, (cur = new Set()));
    for (const x of set) if (!cur.has(x)) {
      cur.add(x);
      changed = true;
    }
  }
  return changed;
}

/** Check the reference rules on a lowered function; diagnostics name the TypeScript lines. */
export function checkMapReferences(fn: IrFunction, diagnostics: Diagnostic[]): void {
  const refs = new Map<IrInsn, Ref>();
  const refList: Ref[] = [];
  for (const b of fn.blocks)
    for (const i of b.insns)
      if (i.op === "call" && i.kind === "helper" && (i.helperId === MAP_HELPER.ringbufReserve || i.helperId === MAP_HELPER.lookup) && i.dst) {
        const ref: Ref = { id: refList.length, kind: i.helperId === MAP_HELPER.lookup ? "value" : "record", map: callMap.get(i) ?? "", at: i };
        refs.set(i, ref);
        refList.push(ref);
      }
  if (!refList.length) return;
  const reported = new Set<string>();
  const report = (at: { pos?: IrInsn["pos"] }, message: string, hint: string) => {
    const p = at.pos;
    const key = `${p?.line}:${message}`;
    if (reported.has(key)) return;
    reported.add(key);
    diagnostics.push(diag(2055, p ? { file: p.file, line: p.line, col: p.col, length: Math.max(1, p.text.trim().length), lineText: p.text } : undefined, message, hint));
  };
  const line = (r: Ref) => r.at.pos?.line ?? 0;
  const what = (r: Ref) => (r.kind === "record" ? `the record reserved from ${r.map} at line ${line(r)}` : `the ${r.map} value looked up at line ${line(r)}`);

  // The registers by id (the alias map keeps ids), and the discards to add at traps.
  const regs = new Map<number, VReg>();
  for (const b of fn.blocks) for (const i of b.insns) if ("dst" in i && i.dst) regs.set(i.dst.id, i.dst);
  const trapDiscards: { block: Block; reg: VReg; map: string; pos: IrInsn["pos"] }[] = [];
  const inState = new Map<Block, State>();
  inState.set(fn.entry, { alias: new Map(), states: new Map() });
  const work: Block[] = [fn.entry];
  const preds = (s: State, r: VReg) => s.alias.get(r.id);
  const step = (b: Block, s: State, emit: boolean): void => {
    for (const i of b.insns) {
      // Uses of a reference's memory.
      const base = i.op === "load" || i.op === "store" ? i.base : i.op === "call" && i.kind === "atomic" && !isImm(i.args[0]) ? (i.args[0] as { reg: VReg }).reg : undefined;
      if (base) {
        const id = preds(s, base);
        const st = id === undefined ? undefined : s.states.get(id);
        if (emit && id !== undefined && st) {
          const r = refList[id];
          if (st.has("null")) report(i, `${what(r)} may be null here`, "test it first: if (v !== null) { ... } (a `!` does not convince the verifier)");
          if (st.has("released")) report(i, `${what(r)} is used after it was submitted or discarded`, "the record belongs to the ring buffer once submitted; copy what you need before");
          if (st.has("stale")) report(i, `${what(r)} is used after a delete() on ${r.map}`, "the entry is gone once deleted: look it up again, or read what you need before the delete");
        }
      }
      if (i.op === "call" && i.kind === "helper") {
        const id0 = i.args[0] && !isImm(i.args[0]) ? preds(s, i.args[0].reg) : undefined;
        if ((i.helperId === MAP_HELPER.ringbufSubmit || i.helperId === MAP_HELPER.ringbufDiscard) && id0 !== undefined) {
          const st = s.states.get(id0)!;
          if (emit && st.has("released")) report(i, `${what(refList[id0])} may already be submitted or discarded`, "submit or discard a record exactly once");
          if (emit && st.has("null")) report(i, `${what(refList[id0])} may be null here`, "test it first: if (r !== null) { ... }");
          s.states.set(id0, new Set(["released"]));
        }
        if (i.helperId === MAP_HELPER.delete) {
          const m = callMap.get(i);
          for (const r of refList) if (r.kind === "value" && r.map === m) {
            const st = s.states.get(r.id);
            if (st?.has("live")) st.add("stale");
          }
        }
      }
      const ref = refs.get(i);
      if (ref) {
        const st = s.states.get(ref.id);
        if (emit && ref.kind === "record" && st?.has("live"))
          report(i, `${what(ref)} is reserved again while the previous record may still be outstanding`, "submit or discard each record before reserving the next");
      }
      // Definitions: a copy or a pointer derived from a reference keeps pointing into it.
      const d = i.op === "call" || i.op === "mov" || i.op === "alu" || i.op === "load" || i.op === "addr" || i.op === "stackaddr" || i.op === "param" || i.op === "neg" ? i.dst : undefined;
      let derived: number | undefined;
      if (i.op === "mov" && !isImm(i.src)) derived = preds(s, i.src.reg);
      if (i.op === "alu" && i.alu === "ADD" && i.width === 64) derived = (!isImm(i.a) ? preds(s, i.a.reg) : undefined) ?? (!isImm(i.b) ? preds(s, i.b.reg) : undefined);
      if (d) s.alias.delete(d.id);
      if (ref && d) {
        s.alias.set(d.id, ref.id);
        s.states.set(ref.id, new Set(["null", "live"]));
      } else if (d && derived !== undefined) s.alias.set(d.id, derived);
    }
    const t = b.term!;
    if (t.op === "ret") {
      if (emit)
        for (const r of refList) {
          const st = s.states.get(r.id);
          if (r.kind !== "record" || !st?.has("live")) continue;
          // A trap (a failed run-time check, a loop's spent budget) is an exit the program cannot put a
          // discard on: discard there what is surely outstanding, through a register that holds it.
          const holder = [...s.alias].find(([, id]) => id === r.id)?.[0];
          const reg = holder === undefined ? undefined : regs.get(holder);
          if (t.trap && st.size === 1 && reg) {
            trapDiscards.push({ block: b, reg, map: r.map, pos: t.pos });
            continue;
          }
          report(
            r.at,
            `${what(r)} is not submitted or discarded on every path`,
            t.trap
              ? `the run-time check at line ${t.pos?.line ?? "?"} (a loop's budget, an index) may stop the program with it maybe null, submitted or outstanding: test it for null right after reserve(), and submit or discard it on one path only`
              : `the path through line ${t.pos?.line ?? "?"} returns with it outstanding: call ${r.map}.submit(rec) or ${r.map}.discard(rec) there`,
          );
        }
      return;
    }
    const out = (target: Block, sOut: State) => {
      const cur = inState.get(target);
      if (!cur) {
        inState.set(target, sOut);
        work.push(target);
      } else if (mergeInto(cur, sOut)) work.push(target);
    };
    if (t.op === "jmp") return out(t.target, s);
    if (t.op !== "br") {
      for (const b2 of successors(b)) out(b2, cloneState(s));
      return;
    }
    // A null test on a reference: the equal edge sees null, the other a live (or released...) pointer.
    const id = preds(s, t.a);
    if (id !== undefined && isImm(t.b) && t.b.imm === 0n && (t.cmp === "JEQ" || t.cmp === "JNE") && t.width === 64) {
      const isNull = cloneState(s);
      const notNull = cloneState(s);
      isNull.states.set(id, new Set(["null"]));
      const nn = notNull.states.get(id)!;
      nn.delete("null");
      if (!nn.size) nn.add("live");
      out(t.cmp === "JEQ" ? t.then : t.else, isNull);
      out(t.cmp === "JEQ" ? t.else : t.then, notNull);
      return;
    }
    out(t.then, cloneState(s));
    out(t.else, cloneState(s));
  };
  // Reach the fixed point silently, then walk every block once more reporting.
  for (let n = 0; work.length && n < 100000; n++) {
    const b = work.pop()!;
    step(b, cloneState(inState.get(b)!), false);
  }
  for (const b of fn.blocks) {
    const s = inState.get(b);
    if (s) step(b, cloneState(s), true);
  }
  for (const d of trapDiscards) {
    const call: IrInsn = { op: "call", kind: "helper", name: "bpf_ringbuf_discard", helperId: MAP_HELPER.ringbufDiscard, args: [{ reg: d.reg }, { imm: 0n }], pos: d.pos, depth: d.block.term!.depth };
    callMap.set(call, d.map);
    d.block.insns.push(call);
  }
}
