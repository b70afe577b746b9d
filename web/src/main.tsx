import { createRoot } from "react-dom/client";

import { App } from "./App";
import { forgetStoredNext } from "./pages/authShared";
import "./styles.css";

forgetStoredNext();

createRoot(document.getElementById("root")!).render(<App />);
