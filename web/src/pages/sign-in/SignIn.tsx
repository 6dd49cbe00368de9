import { useState } from "react";
import { request } from "../../shared/api.ts";
import { openSession, useSession } from "../../shared/session.tsx";
import { Authenticate } from "./operations.ts";

export function SignIn() {
  const { notice, signedIn } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="sign-in">
      <form
        aria-label="Sign in"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setProblem(null);
          try {
            const { authenticate } = await request(Authenticate, { email, password }, null);
            if (!authenticate?.jwtToken) throw new Error("Custodian did not return a session.");
            signedIn(await openSession(authenticate.jwtToken));
          } catch (error) {
            setProblem((error as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>Custodian console</h1>
        {notice && !problem && <p className="notice" role="status">{notice}</p>}
        <label>
          Email
          <input type="email" name="email" autoComplete="username" required value={email} onChange={(event) => setEmail(event.target.value)} />
        </label>
        <label>
          Password
          <input type="password" name="password" autoComplete="current-password" required value={password} onChange={(event) => setPassword(event.target.value)} />
        </label>
        {problem && <p className="state error" role="alert">{problem}</p>}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
