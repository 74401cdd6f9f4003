import { getenv, http_outcome, type Event } from "autokitteh";

const PING = 1;
const APPLICATION_COMMAND = 2;
const PONG = 1;
const CHANNEL_MESSAGE_WITH_SOURCE = 4;

export async function on_interaction(event: Event) {
  const { headers, body } = event.data;
  const valid = await verify(
    getenv("DISCORD_PUBLIC_KEY") ?? "",
    headers["x-signature-ed25519"] ?? "",
    headers["x-signature-timestamp"] ?? "",
    body.bytes,
  );
  if (!valid) {
    http_outcome({ status_code: 401, body: "invalid request signature" });
    return;
  }

  const interaction = body.json as {
    type?: number;
    data?: { name?: string };
    member?: { user?: { username?: string } };
  };
  if (interaction.type === PING) {
    http_outcome({ json: { type: PONG } });
  } else if (interaction.type === APPLICATION_COMMAND) {
    const who = interaction.member?.user?.username ?? "there";
    http_outcome({
      json: {
        type: CHANNEL_MESSAGE_WITH_SOURCE,
        data: { content: `Hello, ${who}! (/${interaction.data?.name ?? "?"})` },
      },
    });
  } else {
    http_outcome({ status_code: 400, json: { error: "unknown interaction type" } });
  }
}

/** Discord signs timestamp + raw body with Ed25519; the key and signature come as hex. */
async function verify(
  publicKeyHex: string,
  signatureHex: string,
  timestamp: string,
  body: Uint8Array,
): Promise<boolean> {
  const publicKey = fromHex(publicKeyHex);
  const signature = fromHex(signatureHex);
  if (
    publicKey === null ||
    publicKey.length !== 32 ||
    signature === null ||
    signature.length !== 64 ||
    timestamp === ""
  ) {
    return false;
  }
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
    "verify",
  ]);
  const stamp = new TextEncoder().encode(timestamp);
  const message = new Uint8Array(stamp.length + body.length);
  message.set(stamp);
  message.set(body, stamp.length);
  return crypto.subtle.verify("Ed25519", key, signature, message);
}

function fromHex(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return null;
  return new Uint8Array(hex.match(/../g)?.map((byte) => parseInt(byte, 16)) ?? []);
}
