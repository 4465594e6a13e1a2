// The panel's view type, shared by the activation stub (main.ts registers
// its serializer) and the panel. package.json repeats it in the
// `onWebviewPanel:` activation event; a unit test keeps the two equal.
export const PANEL_VIEW_TYPE = 'outboundLens.panel';
