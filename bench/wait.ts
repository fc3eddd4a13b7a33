/** Waiting for a process the benches started to answer HTTP. */

/** Resolves once `url` answers at all (any status: a baseline answers every request), failing after 60 s. */
export async function waitForHttp(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(url, { method: 'POST', body: 'x' });
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not come up`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
