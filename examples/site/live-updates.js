// Renders the live updates of en-live-updates.html from updates.json (invented content).
fetch("updates.json")
  .then((response) => response.json())
  .then((live) => {
    const app = document.getElementById("app");
    const article = document.createElement("article");
    const heading = document.createElement("h1");
    heading.textContent = live.title;
    article.appendChild(heading);
    for (const update of live.updates) {
      const section = document.createElement("section");
      section.className = "update";
      const when = document.createElement("time");
      when.textContent = update.time;
      section.appendChild(when);
      for (const paragraph of update.text) {
        const p = document.createElement("p");
        p.textContent = paragraph;
        section.appendChild(p);
      }
      article.appendChild(section);
    }
    app.appendChild(article);
  });
