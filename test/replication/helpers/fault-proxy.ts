// A tiny TCP proxy on 127.0.0.1 between a terminal and the cloud, with faults:
// - down: refuse (reset) every connection, and drop the open ones
// - dropUploadResponses: the next N POST /v1/events reach the cloud, but their
//   responses are swallowed and the connection is cut (a lost acknowledgement)
// - cutUploadBodies: the next N POST /v1/events are cut after `cutAfterBytes`
//   body bytes (connection dropped mid-body)
// - refuseNew: reset new connections, keep the open ones
// The target port can change (cloud restarted elsewhere).
import net from 'node:net';
import { within, WAIT_MS } from '../../helpers/wait.ts';

const UPLOAD_HEAD = Buffer.from('POST /v1/events ');
const HEAD_END = Buffer.from('\r\n\r\n');

export class FaultProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  down = false;
  /** Refuse new connections but let the open ones run (a server going away under them). */
  refuseNew = false;
  dropUploadResponses = 0;
  cutUploadBodies = 0;
  cutAfterBytes = 200;
  /** Counters of faults actually injected. */
  dropped = 0;
  cut = 0;

  private constructor(private target: number) {
    this.server = net.createServer((c) => this.onConnection(c));
  }

  static async start(target: number): Promise<FaultProxy> {
    const p = new FaultProxy(target);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  setTarget(port: number): void {
    this.target = port;
  }

  setDown(down: boolean): void {
    this.down = down;
    if (down) this.dropAll();
  }

  /** Cuts every open connection (both sides). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.dropAll();
    await within(new Promise<void>((resolve) => this.server.close(() => resolve())), WAIT_MS, 'the fault proxy to close');
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private onConnection(c: net.Socket): void {
    this.track(c);
    if (this.down || this.refuseNew) {
      c.resetAndDestroy();
      return;
    }
    const u = net.connect(this.target, '127.0.0.1');
    this.track(u);
    const kill = (): void => {
      c.destroy();
      u.destroy();
    };
    c.on('close', () => u.destroy());
    u.on('close', () => c.destroy());

    let swallowNextResponse = false;
    let dead = false;
    /** Body bytes still allowed through before the cut, or -1 when not cutting. */
    let budget = -1;

    c.on('data', (chunk: Buffer) => {
      if (dead) return;
      if (budget >= 0) {
        forwardWithBudget(chunk, 0);
        return;
      }
      const at = chunk.indexOf(UPLOAD_HEAD);
      if (at === 0 || (at > 0 && chunk.subarray(at - 2, at).toString() === '\r\n')) {
        if (this.dropUploadResponses > 0) {
          this.dropUploadResponses--;
          swallowNextResponse = true;
        } else if (this.cutUploadBodies > 0) {
          this.cutUploadBodies--;
          const headEnd = chunk.indexOf(HEAD_END, at);
          budget = this.cutAfterBytes;
          if (headEnd < 0) {
            // Head continues in the next chunk: count from there (good enough for a test).
            u.write(chunk);
            return;
          }
          forwardWithBudget(chunk, headEnd + HEAD_END.length);
          return;
        }
      }
      u.write(chunk);
    });

    const forwardWithBudget = (chunk: Buffer, bodyStart: number): void => {
      const allowed = bodyStart + budget;
      if (chunk.length <= allowed) {
        budget -= chunk.length - bodyStart;
        u.write(chunk);
        return;
      }
      this.cut++;
      dead = true;
      u.write(chunk.subarray(0, allowed), () => setTimeout(kill, 20));
    };

    u.on('data', (chunk: Buffer) => {
      if (swallowNextResponse) {
        this.dropped++;
        swallowNextResponse = false;
        kill();
        return;
      }
      c.write(chunk);
    });
  }
}
