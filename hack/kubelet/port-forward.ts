// The kubelet's port-forward: `kubectl port-forward` and client-go's forwarder ask kube-apiserver for
// pods/portforward, which upgrades a connection to https://<node>:10250/portForward/<ns>/<pod> to
// SPDY/3.1 with the `portforward.k8s.io` protocol (hack/kubelet/port-forward-spdy.ts for the frames).
//
// The protocol: for every local connection the client opens two streams with the headers
// `streamtype` (`error` or `data`), `port` and `requestid` (the pair's shared id). Once both are
// there the kubelet connects to the pod's port and copies bytes both ways on the data stream; when
// the pod's side ends it half-closes the data stream (FIN), and when the client half-closes it, the
// connection to the pod is half-closed too. A failure is written as text on the error stream, which
// the kubelet always closes last, since the client waits for it to end before it lets go of the pair.
//
// The pod is reached at its IP from the host, as a CNI-attached pod is by a real kubelet's runtime.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  decodeHeaderBlock,
  encodeControlFrame,
  encodeDataFrame,
  encodeGoAway,
  encodeHeaderBlock,
  encodeRstStream,
  encodeSynReply,
  FLAG_FIN,
  type Frame,
  FrameReader,
  FrameType,
  HeaderCompressor,
  HeaderDecompressor,
  parseSynStream,
  RstStatus,
  streamIdOf,
} from './port-forward-spdy.ts';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

/** A client that opens one stream of a pair and never the other is cut off after this long. */
const PAIR_TIMEOUT_MS = 30_000;
/** Largest data frame sent; socket reads are at most 64 KiB anyway. */
const MAX_DATA_FRAME = 64 * 1024;

interface Stream {
  id: number;
  type: 'error' | 'data';
  port: number;
  requestId: string;
}

interface Pair {
  error?: Stream;
  data?: Stream;
  timer: NodeJS.Timeout;
  pod?: net.Socket;
  /** The client has half-closed the data stream. */
  clientDone: boolean;
  /** We have sent FIN on both streams. */
  finished: boolean;
}

export interface PortForwardTarget {
  /** Where the pod's ports are reached from this host. */
  podIP: string;
  /** `<namespace>/<name>`, for error messages. */
  pod: string;
  uid: string;
}

/**
 * Serves one upgraded connection (the 101 response already written) until the client goes away or
 * sends GOAWAY. `head` is what arrived after the HTTP request, before the upgrade.
 */
export function servePortForward(
  socket: Duplex,
  head: Buffer,
  target: PortForwardTarget,
  log: (message: string) => void = () => {},
): void {
  const reader = new FrameReader();
  const compressor = new HeaderCompressor();
  const decompressor = new HeaderDecompressor();
  const streams = new Map<number, Pair>();
  const pairs = new Map<string, Pair>();
  let lastStreamId = 0;
  let closed = false;
  // Pods whose reads wait for the client's connection to drain: a slow client slows the pods that
  // send to it instead of piling their bytes up here.
  const paused = new Set<net.Socket>();
  socket.on('drain', () => {
    for (const p of paused) p.resume();
    paused.clear();
  });

  const send = (frame: Buffer): void => {
    if (!closed && socket.writable) socket.write(frame);
  };

  const shutDown = (): void => {
    if (closed) return;
    closed = true;
    for (const pair of pairs.values()) {
      clearTimeout(pair.timer);
      pair.pod?.destroy();
    }
    pairs.clear();
    streams.clear();
    socket.destroy();
  };

  const finish = (pair: Pair, message?: string): void => {
    if (pair.finished) return;
    pair.finished = true;
    clearTimeout(pair.timer);
    if (pair.data) send(encodeDataFrame(pair.data.id, Buffer.alloc(0), FLAG_FIN));
    if (pair.error) {
      if (message) send(encodeDataFrame(pair.error.id, Buffer.from(message)));
      send(encodeDataFrame(pair.error.id, Buffer.alloc(0), FLAG_FIN));
    }
    if (pair.clientDone || message) forget(pair);
  };

  const forget = (pair: Pair): void => {
    for (const s of [pair.data, pair.error]) if (s) streams.delete(s.id);
    if (pair.data) pairs.delete(pair.data.requestId);
    else if (pair.error) pairs.delete(pair.error.requestId);
  };

  const connect = (pair: Pair, stream: Stream): void => {
    const pod = net.connect({ host: target.podIP, port: stream.port });
    pair.pod = pod;
    pod.setNoDelay(true);
    pod.on('data', (chunk: Buffer) => {
      for (let offset = 0; offset < chunk.length; offset += MAX_DATA_FRAME) {
        send(encodeDataFrame(stream.id, chunk.subarray(offset, offset + MAX_DATA_FRAME)));
      }
      if (socket.writableNeedDrain && !closed) {
        paused.add(pod);
        pod.pause();
      }
    });
    pod.on('end', () => finish(pair));
    pod.on('error', (err) => {
      const message = `error forwarding port ${stream.port} to pod ${target.pod}, uid ${target.uid}: ${err.message}`;
      log(message);
      finish(pair, message);
    });
    pod.on('close', () => {
      paused.delete(pod);
      finish(pair);
      if (pair.clientDone) forget(pair);
    });
  };

  const openStream = (frame: Frame & { kind: 'control' }): void => {
    const syn = parseSynStream(frame.payload);
    const headers = decodeHeaderBlock(decompressor.decompress(syn.compressedHeaders));
    lastStreamId = Math.max(lastStreamId, syn.streamId);
    const type = headers.get('streamtype')?.[0];
    const port = Number(headers.get('port')?.[0]);
    if ((type !== 'error' && type !== 'data') || !Number.isInteger(port) || port < 1 || port > 65535) {
      log(`port-forward: refused stream ${syn.streamId} (streamtype ${type ?? 'missing'}, port ${port})`);
      send(encodeRstStream(syn.streamId, RstStatus.protocolError));
      return;
    }
    // Clients before Kubernetes 1.4 sent no request id: the error stream is N, its data stream N+2.
    const requestId =
      headers.get('requestid')?.[0] ?? String(type === 'error' ? syn.streamId : syn.streamId - 2);
    send(encodeSynReply(syn.streamId, compressor.compress(encodeHeaderBlock(new Map()))));
    const stream: Stream = { id: syn.streamId, type, port, requestId };
    let pair = pairs.get(requestId);
    if (!pair) {
      const created: Pair = {
        timer: setTimeout(
          () => finish(created, `timed out waiting for both streams of request ${requestId}`),
          PAIR_TIMEOUT_MS,
        ),
        clientDone: false,
        finished: false,
      };
      pair = created;
      pairs.set(requestId, pair);
    }
    if (pair[type]) {
      send(encodeRstStream(syn.streamId, RstStatus.protocolError));
      return;
    }
    pair[type] = stream;
    streams.set(stream.id, pair);
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      connect(pair, pair.data);
    }
  };

  const handle = (frame: Frame): void => {
    if (frame.kind === 'data') {
      const pair = streams.get(frame.streamId);
      if (!pair || pair.data?.id !== frame.streamId) return; // the error stream carries nothing from the client
      if (frame.data.length > 0) pair.pod?.write(frame.data);
      if (frame.flags & FLAG_FIN) {
        pair.clientDone = true;
        pair.pod?.end();
        if (pair.finished) forget(pair);
      }
      return;
    }
    switch (frame.type) {
      case FrameType.synStream:
        openStream(frame);
        return;
      case FrameType.rstStream: {
        const pair = streams.get(streamIdOf(frame.payload));
        if (!pair) return;
        pair.clientDone = true;
        pair.finished = true;
        clearTimeout(pair.timer);
        pair.pod?.destroy();
        forget(pair);
        return;
      }
      case FrameType.ping:
        // Pings are answered with the same frame.
        send(encodeControlFrame(FrameType.ping, frame.flags, frame.payload));
        return;
      case FrameType.goAway:
        send(encodeGoAway(lastStreamId));
        shutDown();
        return;
      default:
        // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do. Like the Go implementation the client
        // uses, flow control windows are not enforced in either direction.
        return;
    }
  };

  const onChunk = (chunk: Buffer): void => {
    try {
      for (const frame of reader.push(chunk)) if (!closed) handle(frame);
    } catch (err) {
      log(`port-forward: ${(err as Error).message}; closing the connection`);
      shutDown();
    }
  };

  socket.on('data', onChunk);
  socket.on('end', shutDown);
  socket.on('close', shutDown);
  socket.on('error', shutDown);
  if (head.length > 0) onChunk(head);
}

/**
 * Checks an upgrade request and writes the 101 response; returns false (having answered with an
 * error) when it is not one this kubelet serves.
 */
export function acceptPortForwardUpgrade(
  headers: Record<string, string | string[] | undefined>,
  socket: Duplex,
): boolean {
  const upgrade = String(headers.upgrade ?? '').toLowerCase();
  const protocols = [headers['x-stream-protocol-version'] ?? []]
    .flat()
    .flatMap((v) => v.split(','))
    .map((v) => v.trim());
  const refuse = (status: string, message: string): false => {
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`,
    );
    return false;
  };
  if (upgrade !== 'spdy/3.1') {
    return refuse(
      '400 Bad Request',
      `this kubelet serves port-forward over SPDY/3.1 only (Upgrade: ${upgrade || 'none'})\n`,
    );
  }
  if (protocols.length > 0 && !protocols.includes(PORT_FORWARD_PROTOCOL)) {
    return refuse(
      '403 Forbidden',
      `unsupported port-forward protocol(s) ${protocols.join(', ')}; this kubelet speaks ${PORT_FORWARD_PROTOCOL}\n`,
    );
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Connection: Upgrade\r\n' +
      'Upgrade: SPDY/3.1\r\n' +
      `X-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`,
  );
  return true;
}
