import { spawn, spawnSync } from 'node:child_process';
import { E2E_USERS, USER_PASSWORD } from './users';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createUser, startWukong, stopWukong } from './wukong-process';

/**
 * Gives the default quota template, and the projects made so far, room for every VM the
 * specs make: quotas are tested in quotas.spec.ts, which sets its own limits. Written into
 * the database the user commands above created, before Wukong starts.
 */
function roomyQuotas(dataDir: string): void {
  const roomy = 'vcpus = 1000, memory_mib = 10000000, disk_gib = 100000, vm_count = 1000';
  const script = [
    'import sqlite3, sys',
    'db = sqlite3.connect(sys.argv[1])',
    `db.execute("UPDATE quota_templates SET ${roomy} WHERE is_default = 1")`,
    `db.execute("UPDATE resource_quotas SET ${roomy}")`,
    'db.commit()',
  ].join('\n');
  const done = spawnSync('python3', ['-c', script, join(dataDir, 'wukong.db')], { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`could not give the test projects room: ${done.stderr}`);
}

/**
 * Starts a private Wukong for the run: its own data directory, any free port on loopback.
 * The tests find it through WUKONG_E2E_BASE_URL, and the first-run admin password it writes
 * to its data directory through WUKONG_E2E_ADMIN_PASSWORD; the teardown stops it and removes
 * its data.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wukong-e2e-'));
  for (const email of E2E_USERS) createUser(dataDir, email, USER_PASSWORD);
  roomyQuotas(dataDir);
  const wukong = await startWukong(dataDir);
  const address = wukong.address;
  if (wukong.adminPassword) process.env.WUKONG_E2E_ADMIN_PASSWORD = wukong.adminPassword;
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
    await stopWukong(wukong);
    rmSync(dataDir, { recursive: true, force: true });
  };
}
