#!/usr/bin/env node
// ehfake: a small AMQP 1.0 fake of one Azure Event Hub, for tests of the
// project's own azeventhubs code (replay from a time range). It is NOT an
// emulator: it serves one hub, read-only, from a JSON fixture, and implements
// only what azeventhubs/v2 v2.0.2 needs to read a partition (see
// shared/reference/local-emulators.md, "Event Hubs"):
//
//   - SASL ANONYMOUS; $cbs put-token answered with status 200;
//   - on attach, the client's settle modes and source/target are echoed;
//   - RPC replies carry correlation_id = the request's message_id, go out on
//     the link whose target is the request's reply_to, with an int status-code;
//   - $management READ of com.microsoft:eventhub and com.microsoft:partition;
//   - receiver links <hub>/ConsumerGroups/<cg>/Partitions/<n> with a selector
//     filter on x-opt-offset, x-opt-sequence-number or x-opt-enqueued-time;
//   - events delivered pre-settled by link credit, with the message annotations
//     x-opt-sequence-number (long), x-opt-offset (string) and
//     x-opt-enqueued-time (timestamp);
//   - receivers with an owner level (the link property com.microsoft:epoch,
//     which the azeventhubs Processor sets to 0 on every partition client):
//     a new receiver with an epoch detaches the receivers open on the same
//     consumer group and partition with amqp:link:stolen (the client's
//     ErrorCodeOwnershipLost), as Event Hubs does when another Processor
//     instance takes the partition over. Only what the Processor does is
//     served: every Processor receiver has epoch 0, so a lower epoch's
//     refusal and plain receivers beside epoch ones are not modelled;
//   - sends (ProducerClient) to "<hub>" or "<hub>/Partitions/<n>": single
//     messages and batches (message format 0x80013700, each data section an
//     encoded message) are appended to the partition (to "0" when none is
//     named), enqueued now, and delivered to open receivers. Events sent live
//     in memory only. `spresponder selftest` uses this in its test.
//
// Usage: node ehfake.js <fixture.json> [port]   (port 0 or absent: pick one)
// Prints "listening <port>" on stdout when ready. EHFAKE_DEBUG=1 logs to stderr.
//
// Fixture: {"hub":"entra","partitions":{"0":[{"body":"<string>","enqueuedTime":"RFC3339"}],...}}
// Events of a partition get sequence numbers 0,1,2... in file order; offsets
// are byte offsets (the running sum of body lengths), as strings.
'use strict';

const fs = require('fs');
const rhea = require('rhea');

const types = rhea.types;
const debug = process.env.EHFAKE_DEBUG ? (...a) => console.error('ehfake:', ...a) : () => {};

function loadFixture(file) {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (typeof raw.hub !== 'string' || raw.hub === '') throw new Error(file + ': "hub" must be a non-empty string');
  if (!raw.partitions || typeof raw.partitions !== 'object') throw new Error(file + ': "partitions" must be an object');
  const partitions = new Map();
  for (const id of Object.keys(raw.partitions).sort((a, b) => Number(a) - Number(b))) {
    let offset = 0;
    const events = raw.partitions[id].map((e, i) => {
      const t = Date.parse(e.enqueuedTime);
      if (Number.isNaN(t)) throw new Error(`${file}: partition ${id} event ${i}: bad enqueuedTime ${e.enqueuedTime}`);
      const body = Buffer.from(String(e.body), 'utf8');
      const ev = { seq: i, offset: String(offset), time: t, body };
      offset += body.length;
      return ev;
    });
    partitions.set(id, events);
  }
  return { hub: raw.hub, created: Date.now(), partitions };
}

// startIndex returns the index of the first event matching a selector
// filter expression as azeventhubs writes it, e.g.
// "amqp.annotation.x-opt-enqueued-time >= '1700000000000'".
function startIndex(events, expr) {
  if (!expr) return 0;
  const m = /x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'/.exec(expr);
  if (!m) throw new Error('unsupported selector filter: ' + expr);
  const [, field, op, value] = m;
  if (field === 'offset' && value === '@latest') return events.length;
  if (field === 'offset' && value === '-1') return 0;
  const n = Number(value);
  const key = { 'offset': (e) => Number(e.offset), 'sequence-number': (e) => e.seq, 'enqueued-time': (e) => e.time }[field];
  const i = events.findIndex((e) => (op === '>=' ? key(e) >= n : key(e) > n));
  return i < 0 ? events.length : i;
}

function selectorOf(source) {
  const filter = source && source.filter;
  if (!filter) return '';
  for (const k of Object.keys(filter)) {
    let v = filter[k];
    // described values arrive as {descriptor, value} or as the value itself
    if (v && typeof v === 'object' && 'value' in v) v = v.value;
    if (typeof v === 'string') return v;
  }
  return '';
}

// epochOf reads a receiver's owner level (com.microsoft:epoch, an AMQP long)
// from its attach properties; null when it has none.
function epochOf(props) {
  if (!props) return null;
  let v = props['com.microsoft:epoch'];
  if (v === undefined || v === null) return null;
  if (typeof v === 'object' && 'value' in v) v = v.value;
  if (Buffer.isBuffer(v)) return Number(v.readBigInt64BE(0));
  const n = Number(v);
  return Number.isNaN(n) ? null : n;
}

// bodiesOf returns the event bodies of a message a producer sent: one for a
// plain message (format 0); for a batch (format 0x80013700) one per data
// section of the outer message, each an encoded message of its own.
function bodiesOf(ctx) {
  const text = (msg) => {
    const b = msg.body;
    if (Buffer.isBuffer(b)) return b;
    if (b && b.content !== undefined) return Buffer.from(b.content);
    if (typeof b === 'string') return Buffer.from(b, 'utf8');
    return Buffer.from(JSON.stringify(b), 'utf8');
  };
  if (!ctx.format) return [text(ctx.message)];
  const out = [];
  const reader = new types.Reader(ctx.message);
  while (reader.remaining()) {
    const s = reader.read();
    const d = s && s.descriptor && s.descriptor.value;
    if (d === 0x75 || d === 'amqp:data:binary') {
      const inner = Buffer.isBuffer(s.value) ? s.value : s.value && s.value.value;
      out.push(text(rhea.message.decode(inner)));
    }
  }
  return out;
}

function main() {
  const [file, portArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node ehfake.js <fixture.json> [port]');
    process.exit(2);
  }
  const fx = loadFixture(file);
  const container = rhea.create_container({ id: 'ehfake' });
  container.sasl_server_mechanisms.enable_anonymous();

  const echo = (link) => {
    const r = link.remote.attach;
    link.local.attach.snd_settle_mode = r.snd_settle_mode;
    link.local.attach.rcv_settle_mode = r.rcv_settle_mode;
    if (r.source) link.set_source(r.source);
    if (r.target) link.set_target(r.target);
  };

  const partitionProps = (id) => {
    const evs = fx.partitions.get(id);
    const last = evs[evs.length - 1];
    return {
      name: fx.hub,
      partition: id,
      begin_sequence_number: types.wrap_long(evs.length ? 0 : -1),
      last_enqueued_sequence_number: types.wrap_long(last ? last.seq : -1),
      last_enqueued_offset: last ? last.offset : '-1',
      last_enqueued_time_utc: types.wrap_timestamp(last ? last.time : 0),
      is_partition_empty: evs.length === 0,
    };
  };

  const management = (req) => {
    const ap = req.application_properties || {};
    if (ap.operation !== 'READ') return [400, 'unsupported operation ' + ap.operation, null];
    if (ap.name !== fx.hub) return [404, 'no event hub ' + ap.name, null];
    if (ap.type === 'com.microsoft:eventhub') {
      return [200, 'OK', {
        name: fx.hub,
        created_at: types.wrap_timestamp(fx.created),
        partition_ids: types.wrap_array([...fx.partitions.keys()], 0xa1),
        georeplication_factor: types.wrap_int(1),
      }];
    }
    if (ap.type === 'com.microsoft:partition') {
      if (!fx.partitions.has(ap.partition)) return [404, 'no partition ' + ap.partition, null];
      return [200, 'OK', partitionProps(ap.partition)];
    }
    return [400, 'unsupported type ' + ap.type, null];
  };

  const reply = (connection, req, code, description, body) => {
    const to = req.reply_to;
    let out = null;
    for (const l of connection.replyLinks || []) {
      if (l.remote.attach.target && l.remote.attach.target.address === to && l.is_open()) out = l;
    }
    if (!out) {
      debug('no reply link for', to);
      return;
    }
    const msg = {
      correlation_id: req.message_id,
      application_properties: { 'status-code': types.wrap_int(code), 'status-description': description },
    };
    if (body !== null) msg.body = body;
    out.send(msg);
  };

  const pump = (sender) => {
    const st = sender.ehfake;
    while (st.next < st.events.length && sender.sendable()) {
      const e = st.events[st.next++];
      // Event Hubs delivers events pre-settled (allowed in the mixed mode
      // the client asks for). go-amqp gives link credit back only for
      // settled deliveries and azeventhubs never settles one, so unsettled
      // deliveries stall a receiver once its prefetch credit is spent.
      const d = sender.send({
        body: rhea.message.data_section(e.body),
        message_annotations: {
          'x-opt-sequence-number': types.wrap_long(e.seq),
          'x-opt-offset': e.offset,
          'x-opt-enqueued-time': types.wrap_timestamp(e.time),
        },
      });
      d.settled = true;
    }
  };

  container.on('sender_open', (ctx) => {
    const sender = ctx.sender;
    echo(sender);
    const source = sender.remote.attach.source || {};
    const address = source.address || '';
    debug('sender_open', address, JSON.stringify(source.filter));
    if (address === '$management' || address === '$cbs') {
      ctx.connection.replyLinks = ctx.connection.replyLinks || [];
      ctx.connection.replyLinks.push(sender);
      return;
    }
    const m = /^([^/]+)\/ConsumerGroups\/([^/]+)\/Partitions\/([^/]+)$/.exec(address);
    if (!m || m[1] !== fx.hub || !fx.partitions.has(m[3])) {
      sender.close({ condition: 'amqp:not-found', description: 'no such entity: ' + address });
      return;
    }
    let start;
    try {
      start = startIndex(fx.partitions.get(m[3]), selectorOf(source));
    } catch (err) {
      sender.close({ condition: 'amqp:not-implemented', description: err.message });
      return;
    }
    const epoch = epochOf(sender.remote.attach.properties);
    const key = m[2] + '/' + m[3];
    if (epoch !== null) {
      for (const other of [...senders]) {
        if (!other.ehfake || other.ehfake.key !== key || !other.is_open()) continue;
        debug('stolen', key, 'epoch', other.ehfake.epoch, 'by epoch', epoch);
        senders.delete(other);
        other.close({ condition: 'amqp:link:stolen', description: `new receiver with epoch ${epoch} on ${key}: current receiver (epoch ${other.ehfake.epoch}) is disconnected` });
      }
    }
    sender.ehfake = { events: fx.partitions.get(m[3]), next: start, key, epoch };
    senders.add(sender);
    debug('partition', m[3], 'cg', m[2], 'start', start, 'epoch', epoch, 'props', JSON.stringify(sender.remote.attach.properties));
  });

  // Open partition senders, to deliver events appended by a producer.
  const senders = new Set();
  container.on('sender_close', (ctx) => senders.delete(ctx.sender));
  container.on('disconnected', (ctx) => {
    for (const s of [...senders]) if (s.connection === ctx.connection) senders.delete(s);
  });

  container.on('sendable', (ctx) => {
    if (ctx.sender.ehfake) pump(ctx.sender);
  });

  // A receive call that times out drains the link's credit (go-amqp sets
  // drain on its flow): send what there is, then give the rest of the
  // credit back, or the client waits for the drain for ever and a
  // partition read stalls after its first prefetch (300 events).
  container.on('sender_draining', (ctx) => {
    if (!ctx.sender.ehfake) return;
    debug('draining', ctx.sender.credit, ctx.sender.ehfake.next);
    pump(ctx.sender);
    if (ctx.sender.credit > 0) ctx.sender.set_drained(true);
  });

  container.on('receiver_open', (ctx) => {
    echo(ctx.receiver);
    // A producer sizes its batches from the link's max-message-size (0
    // would mean nothing fits); 1 MB is the Standard tier's limit.
    ctx.receiver.local.attach.max_message_size = 1024 * 1024;
    debug('receiver_open', ctx.receiver.remote.attach.target && ctx.receiver.remote.attach.target.address);
  });

  container.on('message', (ctx) => {
    const target = (ctx.receiver.remote.attach.target || {}).address;
    const req = ctx.message;
    if (target === '$cbs') {
      reply(ctx.connection, req, 200, 'OK', null);
    } else if (target === '$management') {
      const [code, description, body] = management(req);
      debug('management', JSON.stringify(req.application_properties && req.application_properties.type), code);
      reply(ctx.connection, req, code, description, body);
    } else {
      const m = new RegExp('^' + fx.hub.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '(?:/Partitions/([^/]+))?$').exec(target || '');
      const pid = m && (m[1] || '0');
      if (!m || !fx.partitions.has(pid)) {
        ctx.receiver.close({ condition: 'amqp:not-found', description: 'no such entity: ' + target });
        return;
      }
      const evs = fx.partitions.get(pid);
      for (const body of bodiesOf(ctx)) {
        const last = evs[evs.length - 1];
        const offset = last ? Number(last.offset) + last.body.length : 0;
        evs.push({ seq: evs.length, offset: String(offset), time: Date.now(), body });
        debug('appended to partition', pid, 'seq', evs.length - 1);
      }
      for (const sender of senders) if (sender.ehfake && sender.ehfake.events === evs && sender.is_open()) pump(sender);
    }
  });

  container.on('error', (ctx) => debug('error', ctx.error && ctx.error.message));
  container.on('disconnected', (ctx) => debug('disconnected', ctx.error && ctx.error.message));

  const server = container.listen({ host: '127.0.0.1', port: Number(portArg || 0) });
  server.on('listening', () => {
    process.stdout.write('listening ' + server.address().port + '\n');
  });
  server.on('error', (err) => {
    console.error('ehfake: listen:', err.message);
    process.exit(1);
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

main();
