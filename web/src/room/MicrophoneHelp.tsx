/** How to let this site use the microphone again, for a browser that blocks it. */
export function MicrophoneHelp({
  insistent,
  place = "call",
}: {
  insistent: boolean;
  // Before joining there is no Unmute button: the microphone check starts again by itself.
  place?: "prejoin" | "call";
}) {
  return (
    <section className="microphone-help" aria-labelledby="microphone-help-heading">
      <h2 id="microphone-help-heading">Your browser blocks the microphone</h2>
      <div role="alert">
        {insistent ? (
          <p>To unmute, this site needs your microphone, and the browser says no.</p>
        ) : (
          <p>You can listen, but nobody can hear you until you allow the microphone.</p>
        )}
      </div>
      <ol>
        <li>
          Click the icon at the left of the address bar (a lock or a pair of sliders) to open
          this site&apos;s settings.
        </li>
        <li>
          Set <strong>Microphone</strong> to <strong>Allow</strong>. If it is not listed, check
          that your system lets the browser use the microphone.
        </li>
        {place === "prejoin" ? (
          <li>
            Come back here: the microphone check starts by itself once the microphone is
            allowed. There is no need to reload.
          </li>
        ) : (
          <li>Come back here and press Unmute. There is no need to reload.</li>
        )}
      </ol>
    </section>
  );
}
