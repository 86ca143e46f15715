// Receipts a station still owes a partner, read from its receipts log (src/files/receipts-log.ts)
// without opening the store: ids added and not removed. For tests watching a running station.
import { readReceiptsLog } from '../src/files/receipts-log.ts';

export async function owedReceipts(receiptsDir: string, partner: string): Promise<string[]> {
  const owed = new Set<string>();
  for (const record of (await readReceiptsLog(receiptsDir)).records) {
    const r = record as { add?: { id: string; partner: string }; remove?: { partner: string; ids: string[] } };
    if (r.add?.partner === partner) owed.add(r.add.id);
    if (r.remove?.partner === partner) for (const id of r.remove.ids) owed.delete(id);
  }
  return [...owed];
}
