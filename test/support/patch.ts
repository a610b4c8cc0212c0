// Editing compiled objects the way a hostile object would: tests move one store's offset to show that
// both engines stop the access with its TypeScript line.
import { readObject } from "../../compiler/elf/reader";

const STX_MEM_W = 0x63;

/** The first 32-bit store (`*(u32 *)(rX + off) = rY`) at or after the source line whose text contains
 *  `text` in section `section`: the byte offset of its 16-bit `off` field in `bytes`, and the source line's
 *  number. Throws if there is none. */
export function storeOffsetField(bytes: Uint8Array, section: string, text: string): { field: number; line: number } {
  const o = readObject(bytes);
  const sec = o.section(section);
  if (!sec) throw new Error(`no section ${section}`);
  const line = o.btfExt?.lines.find((l) => l.text.includes(text));
  if (!line) throw new Error(`no line info for "${text}"`);
  let slot = 0;
  for (const i of o.insns(sec.name)) {
    if (slot * 8 >= line.offset && i.opcode === STX_MEM_W) return { field: sec.offset + slot * 8 + 2, line: line.line };
    slot += i.opcode === 0x18 ? 2 : 1;
  }
  throw new Error(`no 32-bit store after "${text}" in ${section}`);
}
