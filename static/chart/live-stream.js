// One WebSocket to klagg's combined market stream (`/market/stream`, Binance's protocol): the page SUBSCRIBEs to the
// kline stream it shows and switches streams on the same connection (UNSUBSCRIBE, SUBSCRIBE) when the symbol or the
// interval changes. Reconnects with backoff (0.5 s doubling to 10 s) and resubscribes; reports its state.

/**
 * @param {{ onKline: (k: object, stream: string) => void, onState: (state: 'connecting'|'live'|'reconnecting') => void }} handlers
 */
export function createLiveStream({ onKline, onState }) {
  let socket;
  let stream = '';
  let requestId = 0;
  let retryMs = 500;

  function send(method, name) {
    if (socket && socket.readyState === WebSocket.OPEN && name) socket.send(JSON.stringify({ method, params: [name], id: ++requestId }));
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(`${scheme}//${location.host}/market/stream`);
    onState('connecting');
    socket.onopen = () => {
      retryMs = 500;
      send('SUBSCRIBE', stream);
      onState('live');
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      // Replies to SUBSCRIBE ({result, id}) carry no data; events of a stream just left may still be in flight.
      if (!event || event.stream !== stream || !event.data || event.data.e !== 'kline') return;
      onKline(event.data.k, event.stream);
    };
    socket.onclose = () => {
      onState('reconnecting');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10_000);
    };
  }

  return {
    /** Follows `name` (e.g. `btcusdt@kline_1m`) instead of the current stream; connects on first use. */
    follow(name) {
      if (name === stream) return;
      const previous = stream;
      stream = name;
      if (!socket) return connect();
      send('UNSUBSCRIBE', previous);
      send('SUBSCRIBE', name);
    },
  };
}
