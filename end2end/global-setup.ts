import { spawn, spawnSync } from 'node:child_process';
import { E2E_USERS, USER_PASSWORD } from './users';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const repoRoot = resolve(__dirname, '..');

/**
 * Starts a private Wukong for the run: its own data directory, any free port on loopback.
 * The tests find it through WUKONG_E2E_BASE_URL, and the first-run admin password it logs
 * through WUKONG_E2E_ADMIN_PASSWORD; the teardown stops it and removes its data.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const binary = process.env.WUKONG_E2E_BINARY ?? join(repoRoot, 'target/debug/wukong');
  const dataDir = mkdtempSync(join(tmpdir(), 'wukong-e2e-'));
  for (const email of E2E_USERS) {
    const created = spawnSync(binary, ['--data-dir', dataDir, 'user', 'create', email, '--password-stdin'], {
      input: `${USER_PASSWORD}\n`,
      encoding: 'utf8',
    });
    if (created.status !== 0) throw new Error(`wukong user create ${email} failed: ${created.stderr}`);
  }
  // No kubeconfig from the machine running the tests: Wukong uses its simulated cluster.
  const serverEnv: NodeJS.ProcessEnv = { ...process.env, WUKONG_LOG: 'info', HOME: dataDir };
  delete serverEnv.KUBECONFIG;
  delete serverEnv.WUKONG_KUBECONFIG;
  delete serverEnv.KUBERNETES_SERVICE_HOST;
  const server = spawn(
    binary,
    ['--listen', '127.0.0.1:0', '--log-format', 'json', '--data-dir', dataDir, '--site-root', join(repoRoot, 'target/site')],
    { stdio: ['ignore', 'pipe', 'inherit'], env: serverEnv },
  );

  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => reject(new Error('wukong did not start within 60 s')), 60_000);
    server.once('exit', (code) => reject(new Error(`wukong exited early with code ${code}`)));
    createInterface({ input: server.stdout! }).on('line', (line) => {
      if (process.env.WUKONG_E2E_SERVER_LOG) console.log(line);
      try {
        const record = JSON.parse(line);
        if (record.email === 'admin@localhost' && typeof record.password === 'string') {
          process.env.WUKONG_E2E_ADMIN_PASSWORD = record.password;
        }
        if (typeof record.address === 'string') {
          clearTimeout(timer);
          resolveAddress(record.address);
        }
      } catch {
        // Not a JSON log line; ignore it.
      }
    });
  });
  process.env.WUKONG_E2E_BASE_URL = `http://${address}`;

  // A real OIDC provider whose only client sends users back to this Wukong.
  const idp = spawn(process.execPath, [join(__dirname, 'oidc-provider.mjs'), `http://${address}/auth/oidc/callback`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const idpConfig = await new Promise<string>((resolveConfig, reject) => {
    const timer = setTimeout(() => reject(new Error('the OIDC provider did not start within 30 s')), 30_000);
    idp.once('exit', (code) => reject(new Error(`the OIDC provider exited early with code ${code}`)));
    createInterface({ input: idp.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolveConfig(line);
    });
  });
  process.env.WUKONG_E2E_OIDC = idpConfig;

  return async () => {
    const idpStopped = new Promise((done) => idp.once('exit', done));
    idp.stdin!.end();
    await idpStopped;
    const stopped = new Promise((done) => server.once('exit', done));
    server.kill('SIGTERM');
    await stopped;
    rmSync(dataDir, { recursive: true, force: true });
  };
}
