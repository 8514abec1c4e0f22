// @ts-check
// Cards a feature puts into a chat message (`data.card`, e.g. {kind: "event", id: 7}): the
// feature registers how its kind is drawn and how it follows its live channel, so the chat page
// and the message list know no feature. A message whose card kind nobody registered shows its
// text alone (which always says what the card is).

/** @typedef {import("../types.js").ChatCard} ChatCard */
/**
 * @typedef {object} CardKind
 * @property {(card: ChatCard) => HTMLElement} render
 * @property {(channel: string, data: unknown) => void} [pub]  a publication on any channel
 */

/** @type {Map<string, CardKind>} */
export const cardKinds = new Map();

/**
 * @param {ChatCard | undefined} card
 * @returns {HTMLElement | null}
 */
export function renderCard(card) {
  const kind = card ? cardKinds.get(card.kind) : undefined;
  return card && kind ? kind.render(card) : null;
}

/**
 * Pass a publication to every card kind (each picks its own channels).
 * @param {string} channel
 * @param {unknown} data
 */
export function cardPub(channel, data) {
  for (const kind of cardKinds.values()) kind.pub?.(channel, data);
}
