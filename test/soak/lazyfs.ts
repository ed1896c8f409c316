import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { trackChild } from '../helpers/children.js';

/**
 * LazyFS (github.com/dsrhaslab/lazyfs): a FUSE file system that keeps written data in its own page cache until the
 * file is fsync'ed, and drops every unsynced byte when told `lazyfs::clear-cache` on its fault FIFO. Dropping that
 * cache, with the writer killed and the file system mounted anew, is a power cut as the file sees it.
 *
 * Nothing of LazyFS lives in this repository: build it elsewhere and name the binary in LAZYFS. Settings (env):
 * - LAZYFS             path to the built `lazyfs` binary (lazyfs/build/lazyfs of its source tree); required
 * - LAZYFS_CACHE_SIZE  its page cache, as its config writes it ("1gb", "512mb"; default 1gb). Mounted anew at each
 *                      cut, so it must hold what one interval between cuts writes and reads, not the whole run
 * - FUSERMOUNT         the unmount tool (default: fusermount3 from PATH; Debian package fuse3)
 */

export interface LazyFsSetup {
  binary: string;
  fusermount: string;
  cacheSize: string;
}

/** Whether LazyFS can be used here; when not, exactly why (the soak prints it as its reason to skip). */
export function lazyfsSetup(env: NodeJS.ProcessEnv = process.env): { setup: LazyFsSetup } | { skip: string } {
  if (process.platform !== 'linux') return { skip: `LazyFS needs Linux with FUSE 3; this is ${process.platform}` };
  const binary = env.LAZYFS;
  if (!binary) {
    return {
      skip:
        'LAZYFS is not set: build github.com/dsrhaslab/lazyfs (libs/libpcache, then lazyfs; see the README) and set ' +
        'LAZYFS=/path/to/lazyfs/build/lazyfs',
    };
  }
  try {
    accessSync(binary, constants.X_OK);
    if (!statSync(binary).isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOTFILE' });
  } catch (err) {
    return { skip: `LAZYFS=${binary} is not an executable file (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch (err) {
    return {
      skip: `/dev/fuse is not usable (${(err as NodeJS.ErrnoException).code ?? String(err)}): a container needs --device /dev/fuse and CAP_SYS_ADMIN`,
    };
  }
  const fusermount = env.FUSERMOUNT ?? findInPath('fusermount3', env.PATH ?? '');
  if (!fusermount) return { skip: 'fusermount3 is not in PATH (Debian: apt-get install fuse3), nor FUSERMOUNT set' };
  const cacheSize = env.LAZYFS_CACHE_SIZE ?? '1gb';
  if (!/^\d+(\.\d+)?\s*(kb|mb|gb)$/i.test(cacheSize)) return { skip: `LAZYFS_CACHE_SIZE=${cacheSize}: expected a size such as 512mb or 1gb` };
  return { setup: { binary, fusermount, cacheSize } };
}

function findInPath(name: string, path: string): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}

function mounted(mountPoint: string): boolean {
  // /proc/self/mountinfo: "id parent major:minor root mountpoint options … - fstype source superoptions"
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === mountPoint && / - fuse\.lazyfs /.test(line));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One mount of LazyFS over `<dir>/root` at `<dir>/mnt`, run in the foreground as a child of this process (recorded
 * for the test run's leftover-process check). Its log goes to stdout, one flushed line per message: commands are
 * answered by reading it.
 */
export class LazyFs {
  readonly mountPoint: string;
  /** The directory under the mount: what is in it is what "the disk" holds. */
  readonly rootDir: string;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly emergency = (): void => this.forceUnmount();
  private queue: Promise<unknown> = Promise.resolve();
  private gone = false;
  private exit = '';

  private constructor(
    private readonly setup: LazyFsSetup,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    this.mountPoint = join(dir, 'mnt');
    this.rootDir = join(dir, 'root');
    const onLine = (line: string): void => {
      // A mount lives for one interval between cuts and says a few lines per command: kept whole.
      this.lines.push(line);
      for (const wake of [...this.waiters]) wake();
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.gone = true;
        this.exit = code !== null ? `code ${code}` : `signal ${signal}`;
        for (const wake of [...this.waiters]) wake();
        resolve({ code, signal });
      }),
    );
    child.once('error', (err) => {
      // Could not be started at all (exec failure): no 'exit' follows.
      this.lines.push(`spawn failed: ${err.message}`);
      this.gone = true;
      this.exit = 'not started';
      for (const wake of [...this.waiters]) wake();
    });
    // Whatever ends this process, the mount must not stay behind (a dead FUSE daemon leaves "transport not connected").
    process.once('exit', this.emergency);
  }

  private get fifo(): string {
    return join(this.dir, 'faults.fifo');
  }

  /** Mounts LazyFS (a fresh page cache: nothing unsynced) and resolves once it answers fault commands. */
  static async mount(setup: LazyFsSetup, dir: string, timeoutMs = 30_000): Promise<LazyFs> {
    const mountPoint = join(dir, 'mnt');
    const rootDir = join(dir, 'root');
    const config = join(dir, 'lazyfs.toml');
    // LazyFS's argument parser takes a config path containing "-o" (any case) for a FUSE option: refuse such paths.
    // Commas would split the FUSE options.
    if (/-o/i.test(config) || /,/.test(dir)) throw new Error(`LazyFS cannot take this directory (has "-o" or ","): ${dir}`);
    mkdirSync(mountPoint, { recursive: true });
    mkdirSync(rootDir, { recursive: true });
    if (!existsSync(config)) {
      writeFileSync(
        config,
        [
          '[faults]',
          `fifo_path="${join(dir, 'faults.fifo')}"`,
          '[cache]',
          // No eviction: nothing unsynced is ever written back behind the application's back, the worst case.
          'apply_eviction=false',
          '[cache.simple]',
          `custom_size="${setup.cacheSize}"`,
          'blocks_per_page=1',
          '[filesystem]',
          'log_all_operations=false',
          'logfile=""',
          '',
        ].join('\n'),
      );
    }
    const args = [mountPoint, '--config-path', config, '-o', 'modules=subdir', '-o', `subdir=${rootDir}`, '-f'];
    const child = spawn(setup.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child, [setup.binary, ...args]);
    const fs = new LazyFs(setup, dir, child);
    try {
      await fs.waitForLine((l) => l.includes('[lazyfs.faults.worker]: waiting for fault commands'), timeoutMs);
      const deadline = Date.now() + timeoutMs;
      while (!mounted(mountPoint)) {
        if (fs.gone || Date.now() > deadline) throw new Error('not in /proc/self/mountinfo');
        await sleep(20);
      }
    } catch (err) {
      await fs.unmount().catch(() => undefined);
      throw new Error(
        `LazyFS did not mount: ${setup.binary} ${args.join(' ')}\n${(err as Error).message}\n--- its output ---\n${fs.lines.slice(-30).join('\n')}`,
      );
    }
    return fs;
  }

  /** The last lines LazyFS printed. */
  output(n = 30): string[] {
    return this.lines.slice(-n);
  }

  private waitForLine(match: (line: string) => boolean, timeoutMs: number, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.slice(from).find(match);
        if (found !== undefined) return done(() => resolve(found));
        if (this.gone) done(() => reject(new Error(`LazyFS exited (${this.exit}); last output:\n${this.lines.slice(-20).join('\n')}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`LazyFS did not answer within ${timeoutMs} ms`))), timeoutMs);
      const done = (then: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        then();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Writes one command to the fault FIFO and waits for the log line that says it is done; one at a time. */
  private command(text: string, done: (line: string) => boolean, timeoutMs = 30_000): Promise<string[]> {
    const run = async (): Promise<string[]> => {
      if (this.gone) throw new Error(`LazyFS is not running; cannot send ${text}`);
      const from = this.lines.length;
      // Non-blocking: with no reader (LazyFS gone) this fails with ENXIO instead of waiting for ever.
      const fifo = await open(this.fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        await fifo.write(`${text}\n`);
      } finally {
        await fifo.close();
      }
      await this.waitForLine(done, timeoutMs, from);
      return this.lines.slice(from);
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Drops every unsynced byte (`lazyfs::clear-cache`): the power cut. */
  async clearCache(): Promise<void> {
    await this.command('lazyfs::clear-cache', (l) => l.includes('[lazyfs.cmds]: cache is cleared.'));
  }

  /** Bytes written but not fsync'ed yet, from `lazyfs::unsynced-data-report`, per file and in all. */
  async unsynced(): Promise<{ bytes: number; files: string[] }> {
    const lines = await this.command(
      'lazyfs::unsynced-data-report',
      (l) => l.includes('report: all data blocks are synced!') || /report: total number of bytes un-fsynced: \d+/.test(l),
    );
    const files = lines.flatMap((l) => {
      const m = /=> file: '([^']*)'/.exec(l);
      return m ? [m[1]!] : [];
    });
    const total = lines.map((l) => /un-fsynced: (\d+) bytes/.exec(l)).find((m) => m !== null);
    return { bytes: total ? Number(total[1]) : 0, files };
  }

  /** Share of its page cache in use, in percent (`lazyfs::display-cache-usage`). */
  async cacheUsage(): Promise<number> {
    const lines = await this.command('lazyfs::display-cache-usage', (l) => /cache usage \(%pages\) is [\d.]+%/.test(l));
    const m = lines.map((l) => /cache usage \(%pages\) is ([\d.]+)%/.exec(l)).find((x) => x !== null);
    return m ? Number(m[1]) : Number.NaN;
  }

  /**
   * Unmounts and waits for LazyFS to exit. Whatever LazyFS still held unsynced is gone with it (it writes nothing
   * back at unmount). Busy (a process still has a file open): retried, then detached lazily and the daemon killed.
   */
  async unmount(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (mounted(this.mountPoint) && Date.now() < deadline) {
      const r = spawnSync(this.setup.fusermount, ['-u', this.mountPoint], { encoding: 'utf8' });
      if (r.status === 0) break;
      last = `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim();
      await sleep(100);
    }
    if (mounted(this.mountPoint)) {
      this.forceUnmount();
      process.removeListener('exit', this.emergency);
      await this.exitedWithin(5000);
      throw new Error(`${this.setup.fusermount} -u ${this.mountPoint} failed (${last}); detached it and killed LazyFS`);
    }
    if (!(await this.exitedWithin(Math.max(1000, deadline - Date.now())))) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    process.removeListener('exit', this.emergency);
  }

  private async exitedWithin(ms: number): Promise<boolean> {
    if (this.gone) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const ok = await Promise.race([this.exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return ok;
  }

  /** Last resort, also on process exit: lazy unmount and SIGKILL, synchronously. */
  private forceUnmount(): void {
    if (mounted(this.mountPoint)) spawnSync(this.setup.fusermount, ['-u', '-z', this.mountPoint]);
    if (!this.gone) {
      try {
        this.child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
