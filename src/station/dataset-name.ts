// Maps a local file name to a virtual file dataset name (SFIDDSN, RFC 5024 §5.3.3: X(26) in the RFC
// "String" set). Rule: the base name, upper-cased; every character outside 0-9 A-Z / - . & ( )
// becomes '-'; cut to 26 characters; an empty result becomes 'FILE'. The original name travels in
// the SFID description.
import { basename } from 'node:path';

export function datasetNameFor(fileName: string): string {
  const mapped = basename(fileName)
    .toUpperCase()
    .replace(/[^0-9A-Z\-.&()]/g, '-')
    .slice(0, 26)
    .replace(/^\.+/, '');
  return mapped.length > 0 ? mapped : 'FILE';
}
