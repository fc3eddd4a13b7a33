/**
 * A real SMTP server for the tests (smtp-server, from the nodemailer project) on a free loopback port: it requires
 * authentication with the credentials it was given, keeps every message it accepts (raw and parsed with
 * mailparser), and can be told to refuse the next deliveries with a temporary error, as a mail server that is
 * down or overloaded answers. STARTTLS is not offered (no certificate to trust on loopback), so authentication
 * goes in the clear, which the receiver allows on loopback only.
 */
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

import { freePort } from '../../scripts/lib/services.ts';

/** A message the receiver accepted. */
export interface ReceivedMail {
  /** The envelope: `MAIL FROM` and `RCPT TO`. */
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  /** The user the client authenticated as. */
  readonly user: string | null;
  /** The message as it came over the wire. */
  readonly raw: string;
  readonly parsed: ParsedMail;
}

/** A running receiver. */
export interface SmtpReceiver {
  /** `smtp://user:password@127.0.0.1:port`, what `SMTP_URL` takes. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Every message accepted, in order. */
  readonly messages: ReceivedMail[];
  /** Refuse the next `n` recipients with `451 4.3.0` (a temporary failure). */
  refuseNext(n: number): void;
  /** How many recipients were refused so far. */
  readonly refused: number;
  close(): Promise<void>;
}

function addressOf(address: SMTPServerAddress | false): string {
  return address === false ? '' : address.address;
}

/** Starts a receiver; close it in an `after` hook. */
export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const port = await freePort();
  const username = 'tokenwarden';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const messages: ReceivedMail[] = [];
  let toRefuse = 0;
  let refused = 0;

  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    size: 1024 * 1024,
    onAuth(auth, _session, callback) {
      if (auth.username === username && auth.password === password) callback(null, { user: username });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(_address, _session, callback) {
      if (toRefuse > 0) {
        toRefuse--;
        refused++;
        callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw).then(
          (parsed) => {
            messages.push({
              envelope: { from: addressOf(session.envelope.mailFrom), to: session.envelope.rcptTo.map(addressOf) },
              user: typeof session.user === 'string' ? session.user : null,
              raw,
              parsed,
            });
            callback(); // 250 only once the message is kept: a resolved sendMail means it is in `messages`
          },
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  return {
    url: `smtp://${username}:${password}@127.0.0.1:${port}`,
    username,
    password,
    messages,
    refuseNext(n) {
      toRefuse = n;
    },
    get refused() {
      return refused;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
