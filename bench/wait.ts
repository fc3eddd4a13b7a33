/** Waiting for a process the benches started to answer HTTP. */

/** Resolves once a GET of `url` answers 2xx (a baseline answers every request; Tokenwarden its `/healthz`), failing after 60 s. */
export async function waitForHttp(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(url).then(
      async (res) => {
        await res.arrayBuffer();
        return res.ok;
      },
      () => false,
    );
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
