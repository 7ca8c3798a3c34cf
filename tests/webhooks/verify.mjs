// What a travel unit's receiver does with each delivery: verify it with the Standard
// Webhooks library (https://github.com/standard-webhooks/standard-webhooks). Reads
// {"secret", "headers", "body"} as JSON on stdin; exits 0 when the delivery verifies and
// prints the library's refusal otherwise.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, headers, body } = JSON.parse(input);
try {
  const payload = new Webhook(secret).verify(body, headers);
  console.log(JSON.stringify({ verified: true, type: typeof payload }));
} catch (error) {
  console.log(JSON.stringify({ verified: false, error: String(error) }));
  process.exit(1);
}
