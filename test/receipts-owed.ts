// Receipts a station still owes a partner, read from its receipts log (src/files/receipts-log.ts)
// without opening the store: ids added and not removed. For tests watching a running station.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function owedReceipts(receiptsDir: string, partner: string): Promise<string[]> {
  let text = '';
  try {
    text = await readFile(join(receiptsDir, 'receipts.jsonl'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const owed = new Set<string>();
  for (const line of text.split('\n')) {
    let r: { add?: { id: string; partner: string }; remove?: { partner: string; ids: string[] } };
    try {
      r = JSON.parse(line);
    } catch {
      continue; // empty, torn by a kill, or still being written
    }
    if (r.add?.partner === partner) owed.add(r.add.id);
    if (r.remove?.partner === partner) for (const id of r.remove.ids) owed.delete(id);
  }
  return [...owed];
}
