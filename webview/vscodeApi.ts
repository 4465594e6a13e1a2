// The webview's handle on VS Code, typed with the shared messages.
import type { FromPanel } from '../src/shared/messages';

export interface PanelState {
  filter: string;
  group: 'none' | 'route' | 'remote';
  paused: boolean;
  expanded: string[];
  collapsedGroups: string[];
  scrollTop: number;
  /** Rows up to this seq were cleared by the user. */
  clearedSeq: number;
  focus: number;
}

interface VsCodeApi {
  postMessage(m: FromPanel): void;
  getState(): PanelState | undefined;
  setState(s: PanelState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export const vscode: VsCodeApi = acquireVsCodeApi();
