// The terminal route: the helper runs under `sudo` in a terminal where the
// user types the password, and connects back over a Unix socket in a
// private directory. Only a connection whose first line is the one-time
// token is accepted; the records follow on the same connection.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SocketChannel {
  path: string;
  token: string;
  /** Resolves with the authenticated connection, its first line consumed; data after the token line is in `rest`. */
  accepted: Promise<{ socket: Socket; rest: Buffer }>;
  close(): void;
}

/**
 * `timeoutMs`: how long the helper may take to connect (the user types a
 * password first). `firstLineMs`: how long any one connection may take to
 * send its token line before it is dropped.
 */
export function openSocketChannel(timeoutMs = 10 * 60 * 1000, firstLineMs = 10000): SocketChannel {
  // 0700: only this user (and root, which the helper runs as) may enter it.
  const dir = mkdtempSync(join(tmpdir(), 'outbound-lens-'));
  chmodSync(dir, 0o700);
  const path = join(dir, 'records.sock');
  const token = randomBytes(24).toString('hex');
  let server: Server | undefined;
  let timer: NodeJS.Timeout | undefined;
  let rejectAccept: ((e: Error) => void) | undefined;

  const close = () => {
    rejectAccept?.(new Error('stopped before the helper connected'));
    clearTimeout(timer);
    server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  };

  const accepted = new Promise<{ socket: Socket; rest: Buffer }>((resolve, reject) => {
    rejectAccept = reject;
    server = createServer((socket) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          if (buf.length > 256) socket.destroy();
          return;
        }
        socket.off('data', onData);
        if (buf.subarray(0, nl).toString('utf8').trim() !== token) {
          socket.destroy();
          return;
        }
        socket.pause();
        // One connection only: stop listening and remove the socket file.
        clearTimeout(timer);
        server?.close();
        server = undefined;
        rmSync(dir, { recursive: true, force: true });
        rejectAccept = undefined;
        resolve({ socket, rest: buf.subarray(nl + 1) });
      };
      socket.on('data', onData);
      socket.on('error', () => socket.destroy());
      setTimeout(() => {
        if (buf.indexOf(0x0a) < 0) socket.destroy();
      }, firstLineMs).unref();
    });
    server.on('error', reject);
    server.listen(path, () => {
      try {
        chmodSync(path, 0o600);
      } catch {
        /* the directory's mode already protects it */
      }
    });
    timer = setTimeout(() => {
      close();
      reject(new Error('the helper did not connect back (was the password typed in the terminal?)'));
    }, timeoutMs);
  });
  accepted.catch(() => undefined);
  return { path, token, accepted, close };
}
