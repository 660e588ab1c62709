import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const repoRoot = resolve(__dirname, '..');

/** The server binary the tests run: the one `cargo test` built, unless told otherwise. */
export function wukongBinary(): string {
  return process.env.WUKONG_E2E_BINARY ?? join(repoRoot, 'target/debug/wukong');
}

/** The built site the server serves: the one `cargo leptos build` wrote, unless told otherwise. */
export function siteRoot(): string {
  return process.env.WUKONG_E2E_SITE_ROOT ?? join(repoRoot, 'target/site');
}

/** Creates an account in `dataDir`'s database with `wukong user create`. */
export function createUser(dataDir: string, email: string, password: string, admin = false): void {
  const args = ['--data-dir', dataDir, 'user', 'create', email, '--password-stdin'];
  if (admin) args.push('--admin');
  const created = spawnSync(wukongBinary(), args, { input: `${password}\n`, encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`wukong user create ${email} failed: ${created.stderr}`);
}

export interface RunningWukong {
  process: ChildProcess;
  /** host:port it listens on. */
  address: string;
  /**
   * The first-run admin password, read from `<dataDir>/initial-admin-password` (Wukong never
   * logs it); there while the admin has not changed it.
   */
  adminPassword?: string;
}

/**
 * Starts Wukong on `listen` with its own data directory and, with no kubeconfig from the
 * machine running the tests, its simulated cluster; resolves once it listens.
 */
export async function startWukong(dataDir: string, listen = '127.0.0.1:0'): Promise<RunningWukong> {
  const env: NodeJS.ProcessEnv = { ...process.env, WUKONG_LOG: 'info', HOME: dataDir };
  delete env.KUBECONFIG;
  delete env.WUKONG_KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  const server = spawn(
    wukongBinary(),
    ['--listen', listen, '--log-format', 'json', '--data-dir', dataDir, '--site-root', siteRoot()],
    { stdio: ['ignore', 'pipe', 'inherit'], env },
  );
  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => reject(new Error('wukong did not start within 60 s')), 60_000);
    server.once('exit', (code) => reject(new Error(`wukong exited early with code ${code}`)));
    createInterface({ input: server.stdout! }).on('line', (line) => {
      if (process.env.WUKONG_E2E_SERVER_LOG) console.log(line);
      try {
        const record = JSON.parse(line);
        if (typeof record.address === 'string') {
          clearTimeout(timer);
          resolveAddress(record.address);
        }
      } catch {
        // Not a JSON log line; ignore it.
      }
    });
  });
  const passwordFile = join(dataDir, 'initial-admin-password');
  const adminPassword = existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8').trimEnd() : undefined;
  return { process: server, address, adminPassword };
}

/** Stops a Wukong this run started, and waits until it has exited. */
export async function stopWukong(running: RunningWukong): Promise<void> {
  if (running.process.exitCode !== null) return;
  const stopped = new Promise((done) => running.process.once('exit', done));
  running.process.kill('SIGTERM');
  await stopped;
}
