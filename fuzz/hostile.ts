// Hostile bytecode for the fuzz harness: well-formed objects (written by our own ELF writer around a real
// program's module) whose code does what no verifier would allow: wild pointers, stack escapes, jumps out
// of the program, unknown helpers and kfuncs, endless loops, recursion, reads of uninitialised registers,
// divisions by zero, bad opcodes, huge waits. The consumers (object reader, engine, loader) must reject or
// stop each one cleanly, within the time and memory limits.

import {
  alu64Imm, alu64Reg, callHelper, callKfunc, callSubprog, exit, ldGlobalAddr, ldImm64, ldx, st, stx, type Insn,
} from "../compiler/bpf/insn";
import { AluOp, AtomicOp, Class, Mode, Opcode, Size, Src } from "../compiler/bpf/decode";
import { writeObject } from "../compiler/elf/writer";
import type { ObjectModule } from "../compiler/object/module";

export interface HostileCase {
  name: string;
  bytes: Uint8Array;
}

const raw = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });
const mov = (dst: 0 | 1 | 2 | 3 | 6, imm: number) => alu64Imm("MOV", dst, imm);

/** The hostile programs, as instruction lists for the first program of `base` (plus module edits). */
function programs(base: ObjectModule): { name: string; insns: Insn[]; edit?: (m: ObjectModule) => void }[] {
  const g = base.globals.find((x) => x.section !== ".rodata") ?? base.globals[0];
  const gname = g?.name ?? "";
  const ret0 = [mov(0, 0), exit()];
  const list: { name: string; insns: Insn[]; edit?: (m: ObjectModule) => void }[] = [
    { name: "wild-load", insns: [ldImm64(1, 0xdeadbeefn), ldx("DW", 0, 1, 0), exit()] },
    { name: "wild-store", insns: [ldImm64(1, 0xffff_8880_0000_0000n), st("DW", 1, 0, 7), ...ret0] },
    { name: "null-load", insns: [mov(1, 0), ldx("W", 0, 1, 0), exit()] },
    { name: "ctx-past-end", insns: [ldx("DW", 0, 1, 4096), exit()] },
    { name: "ctx-negative", insns: [ldx("DW", 0, 1, -8), exit()] },
    { name: "stack-escape-write", insns: [st("DW", 10, 8, 1), ...ret0] },
    { name: "stack-escape-read", insns: [ldx("DW", 0, 10, -520), exit()] },
    { name: "stack-pointer-arith", insns: [alu64Reg("MOV", 1, 10), alu64Imm("ADD", 1, 100000), st("W", 1, 0, 1), ...ret0] },
    { name: "write-r10", insns: [alu64Imm("MOV", 10, 0), ...ret0] },
    { name: "jump-out-forward", insns: [raw(Opcode.JA, 0, 0, 1000), ...ret0] },
    { name: "jump-out-backward", insns: [raw(Opcode.JA, 0, 0, -1000), ...ret0] },
    { name: "jump-into-ldimm64", insns: [raw(Opcode.JA, 0, 0, 1), ldImm64(0, 1n), exit()] },
    { name: "fall-off-end", insns: [mov(0, 0)] },
    { name: "endless-loop", insns: [raw(Opcode.JA, 0, 0, -1), exit()] },
    { name: "endless-loop-counter", insns: [mov(0, 0), alu64Imm("ADD", 0, 1), raw(Opcode.JA, 0, 0, -2), exit()] },
    { name: "endless-stop-never", insns: [mov(0, 0), exit()] },
    { name: "unknown-helper", insns: [callHelper(9999), exit()] },
    { name: "helper-negative", insns: [raw(Opcode.CALL, 0, 0, 0, -5), exit()] },
    { name: "helper-trace-wild", insns: [ldImm64(1, 0x1234n), mov(2, 100), callHelper(6), exit()] },
    { name: "unknown-kfunc", insns: [callKfunc("bpf_does_not_exist"), exit()], edit: (m) => m.kfuncs.push({ name: "bpf_does_not_exist", proto: { kind: "func_proto", ret: { kind: "void" }, params: [] } }) },
    { name: "kfunc-submit-huge", insns: [ldx("DW", 1, 1, 0), ldImm64(2, 0xffffffffn), callKfunc("bpf_io_uring_submit_sqes"), ...ret0], edit: (m) => m.kfuncs.some((k) => k.name === "bpf_io_uring_submit_sqes") || m.kfuncs.push({ name: "bpf_io_uring_submit_sqes", proto: { kind: "func_proto", ret: { kind: "void" }, params: [] } }) },
    { name: "kfunc-region-huge", insns: [ldx("DW", 1, 1, 0), mov(2, 0), ldImm64(3, 1n << 40n), callKfunc("bpf_io_uring_get_region"), ldx("B", 0, 0, 0), exit()], edit: (m) => m.kfuncs.some((k) => k.name === "bpf_io_uring_get_region") || m.kfuncs.push({ name: "bpf_io_uring_get_region", proto: { kind: "func_proto", ret: { kind: "void" }, params: [] } }) },
    { name: "kfunc-iter-wild", insns: [ldImm64(1, 0x5000n), mov(2, 0), mov(3, 1 << 30), callKfunc("bpf_iter_num_new"), ...ret0], edit: (m) => m.kfuncs.some((k) => k.name === "bpf_iter_num_new") || m.kfuncs.push({ name: "bpf_iter_num_new", proto: { kind: "func_proto", ret: { kind: "void" }, params: [] } }) },
    { name: "uninit-register", insns: [alu64Reg("MOV", 0, 7), exit()] },
    { name: "div-by-zero-reg", insns: [mov(0, 7), mov(1, 0), alu64Reg("DIV", 0, 1), alu64Reg("MOD", 0, 1), exit()] },
    { name: "bad-opcode", insns: [raw(0xff, 0, 0, 0, 0), exit()] },
    // Invalid on purpose: 0x8f is ALU64 NEG with the X bit, 0xe7 ALU64 operation 0xe0 (none), then r15.
    { name: "bad-opcodes", insns: [raw(0x8f), raw(0xe7, 11, 12), raw(Class.ALU64 | AluOp.ADD | Src.K, 15, 0, 0, 1), exit()] },
    { name: "bad-register", insns: [raw(Class.ALU64 | AluOp.MOV | Src.K, 12, 0, 0, 1), exit()] },
    { name: "atomic-wild", insns: [ldImm64(1, 0x42n), mov(2, 1), raw(Class.STX | Mode.ATOMIC | Size.DW, 1, 2, 0, AtomicOp.ADD | AtomicOp.FETCH), ...ret0] },
    { name: "wait-forever", insns: [ldx("DW", 1, 1, 8), st("W", 1, 0, 0x7fffffff), ...ret0] },
    { name: "recursion", insns: [callSubprog("hostile_sub"), exit()], edit: (m) => m.functions.push({ name: "hostile_sub", section: ".text", linkage: "static", insns: [callSubprog("hostile_sub"), exit()], proto: { kind: "func_proto", ret: { kind: "void" }, params: [] } }) },
    { name: "deep-calls", insns: [callSubprog("hostile_s0"), exit()], edit: (m) => { for (let i = 0; i < 12; i++) m.functions.push({ name: `hostile_s${i}`, section: ".text", linkage: "static", insns: i < 11 ? [callSubprog(`hostile_s${i + 1}`), exit()] : [mov(0, 0), exit()], proto: { kind: "func_proto", ret: { kind: "void" }, params: [] } }); } },
    { name: "huge-program", insns: [...Array.from({ length: 200_000 }, () => alu64Imm("ADD", 0, 1)), exit()] },
    { name: "stack-512-deep-frames", insns: [st("DW", 10, -512, 1), callSubprog("hostile_f"), exit()], edit: (m) => m.functions.push({ name: "hostile_f", section: ".text", linkage: "static", insns: [st("DW", 10, -512, 1), mov(0, 0), exit()], proto: { kind: "func_proto", ret: { kind: "void" }, params: [] } }) },
  ];
  if (gname) {
    list.push({ name: "global-past-end", insns: [ldGlobalAddr(1, gname, 0), ldx("DW", 0, 1, 100000), exit()] });
    list.push({ name: "global-negative", insns: [ldGlobalAddr(1, gname, 0), alu64Imm("SUB", 1, 1 << 20), ldx("B", 0, 1, 0), exit()] });
    list.push({ name: "rodata-write", insns: [ldGlobalAddr(1, base.globals.find((x) => x.section === ".rodata")?.name ?? gname, 0), st("W", 1, 0, 1), ...ret0] });
    list.push({ name: "global-store-pointer", insns: [ldGlobalAddr(1, gname, 0), stx("DW", 1, 0, 10), ldx("DW", 2, 1, 0), st("DW", 2, 0, 1), ...ret0] });
  }
  return list;
}

/** The hostile object set, built around the module of a compiled program. */
export function hostileObjects(base: ObjectModule): HostileCase[] {
  const out: HostileCase[] = [];
  for (const p of programs(base)) {
    const m: ObjectModule = structuredClone(base);
    m.functions = m.functions.filter((f) => f.section !== ".text");
    m.functions[0] = { ...m.functions[0], insns: p.insns };
    // Keep only kfuncs the new code calls (the writer requires declared ones; extra ones are harmless).
    p.edit?.(m);
    out.push({ name: p.name, bytes: writeObject(m) });
  }
  // Module-level hostility: BTF sizes that do not match the sections, a MEM layout of 2^31 elements.
  const huge: ObjectModule = structuredClone(base);
  huge.globals.push({ name: "uringbpf_mem_layout", section: ".rodata", offset: Math.ceil(Math.max(0, ...huge.globals.filter((g) => g.section === ".rodata").map((g) => g.offset + g.size)) / 8) * 8, size: 8, init: new Uint8Array(8), linkage: "global",
    type: { kind: "const", to: { kind: "ptr", to: { kind: "struct", name: "huge", size: 0x7fffffff, members: [{ name: "a", offset: 0, type: { kind: "array", elem: { kind: "int", name: "unsigned char", size: 1, signed: false }, count: 0x7fffffff } }] } } } });
  if (!base.globals.some((g) => g.name === "uringbpf_mem_layout")) out.push({ name: "mem-layout-2^31", bytes: writeObject(huge) });
  return out;
}
