// `oftp2 cert …` run in this process for the certificate tests: output captured, and a thrown error
// turned into its exit code and text as the CLI's dispatcher does (src/cli/run.ts describeFailure).
import { runCert } from '../../src/cli/cert.ts';
import { describeFailure } from '../../src/cli/run.ts';

export async function runCertIn(dir: string, args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  try {
    const code = await runCert([...args, '-d', dir], { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  } catch (error) {
    const report = describeFailure(error, 'cert', {});
    return { code: report.exitCode, out, err: err + report.text };
  }
}
