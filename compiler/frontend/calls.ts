// Calls of functions: the built-ins (conversions such as u32(x), trace(), userAddr()), top-level helpers
// inlined at each call, and `@noinline` helpers called as BPF subprograms. Method calls on ring views go
// to ringapi.ts. Sub-expressions and inlined bodies are lowered through the context's hooks.

import { Node, type CallExpression, type Expression, type FunctionDeclaration } from "ts-morph";
import { isImm, type VReg } from "../ir/ir";
import { declaredType, isNoInline, signature } from "./annotations";
import type { Binding, LowerContext, Value } from "./context";
import { destroyIterators, trapBlock } from "./exits";
import type { ArrayLayout, StructLayout } from "./layout";
import { MEM_UADDR_GLOBAL, TRAP_GLOBAL } from "./ring";
import { lowerMethodCall } from "./ringapi";
import { ATOMICS, lowerAtomicCall } from "./atomics";
import { HELPERS, lowerHelperCall } from "./helpers";
import { lowerMapCall, MAP_CONSTRUCTORS } from "./maps";
import { isIntName, T, typeName, widthOf, type BoolType, type DslType, type IntType } from "./types";
import { convert, unsupported } from "./values";

type Scalar = IntType | BoolType;

/** Lower a call expression. */
export function lowerCall(cx: LowerContext, e: CallExpression): Value {
  const callee = e.getExpression();
  const args = e.getArguments() as Expression[];
  if (Node.isIdentifier(callee)) {
    const bnd = cx.resolve(callee);
    if (bnd?.kind === "import") {
      if (isIntName(bnd.name)) {
        if (args.length !== 1) cx.fail(e, 2017, `${bnd.name}() takes one argument`);
        return convert(cx, e, cx.lower.expr(cx, args[0]), T[bnd.name], true);
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
  const recv = callee.getExpression();
  const recvBinding = Node.isIdentifier(recv) ? cx.resolve(recv) : undefined;
  if (recvBinding?.kind === "map") return lowerMapCall(cx, e, recvBinding.map, callee.getName(), args);
  return lowerMethodCall(cx, e, callee, args);
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
      const v = cx.lower.expr(cx, x);
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
      const i = convert(cx, x, cx.lower.expr(cx, x.getArgumentExpression()!), T.u32);
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
    const v = cx.lower.expr(cx, a);
    if (v.type.kind !== "int" && v.type.kind !== "bool") return cx.fail(a, 2002, "trace() prints integers");
    const signed = v.type.kind === "int" && v.type.signed;
    return convert(cx, a, v, signed ? T.i64 : T.u64, true).op;
  });
  const sym = cx.addString(text);
  const size = Buffer.byteLength(text, "utf8") + 1;
  cx.b.emit({ op: "call", kind: "helper", name: "bpf_trace_printk", helperId: HELPER_TRACE_PRINTK, args: [{ reg: cx.b.addr(sym) }, { imm: BigInt(size) }, ...values] });
  return { type: T.void, op: { imm: 0n } };
}

/** Call a helper compiled as a BPF subprogram (BPF-to-BPF call, arguments in r1-r5, result in r0). */
function subprogCall(cx: LowerContext, e: CallExpression, decl: FunctionDeclaration, args: Expression[]): Value {
  const sig = signature(cx, decl);
  if (args.length !== sig.params.length) cx.fail(e, 2017, `${decl.getName()}() takes ${sig.params.length} argument${sig.params.length === 1 ? "" : "s"}`);
  if (sig.params.length > 5) cx.fail(decl, 2017, "a @noinline function takes at most 5 parameters (BPF passes arguments in r1-r5)");
  const ops = args.map((a, i) => {
    const t = sig.params[i];
    const v = cx.lower.expr(cx, a);
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
  const locals = new Map<object, Binding>();
  params.forEach((p, i) => {
    const t = declaredType(cx, p.getTypeNode() ?? p, p.getTypeNode()?.getText());
    const v = cx.lower.expr(cx, args[i]);
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
    cx.lower.body(cx, decl.getBody() as Node);
    if (cx.b.current) {
      if (reg && cx.diagnostics.length === errorsBefore) cx.fail(decl.getNameNode() ?? decl, 2024, `${decl.getName()} can end without returning a value`);
      cx.b.terminate({ op: "jmp", target: done });
    }
  } finally {
    cx.frames.pop();
    cx.loops.push(...savedLoops);
    cx.b.pos = savedPos;
  }
  cx.b.enter(done);
  return reg ? { type: retType, op: { reg } } : { type: T.void, op: { imm: 0n } };
}
