/**
 * Hand-made tar archives, for uploads no well-behaved tar tool would write (`../` paths,
 * absolute paths, links). Ustar headers, gzip-compressed.
 */
import { gzipSync } from "node:zlib";

export interface RawEntry {
  name: string;
  /** "0" file, "2" symbolic link, "1" hard link, "5" directory. */
  type?: "0" | "1" | "2" | "5";
  data?: string;
  linkname?: string;
}

export function rawTarGz(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.data ?? "");
    const header = Buffer.alloc(512);
    header.write(entry.name, 0, 100);
    header.write("0000644\0", 100);
    header.write("0000000\0", 108);
    header.write("0000000\0", 116);
    header.write(data.length.toString(8).padStart(11, "0") + "\0", 124);
    header.write("00000000000\0", 136);
    header.write("        ", 148);
    header.write(entry.type ?? "0", 156);
    header.write(entry.linkname ?? "", 157, 100);
    header.write("ustar\0", 257);
    header.write("00", 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
