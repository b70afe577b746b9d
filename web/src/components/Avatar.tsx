interface Props {
  src: string;
  name: string;
  size?: "small" | "medium" | "large";
  // Decorative when the name is shown next to it anyway.
  decorative?: boolean;
}

export function Avatar({ src, name, size = "medium", decorative = false }: Props) {
  return (
    <img
      className={`avatar avatar-${size}`}
      src={src}
      alt={decorative ? "" : name}
      loading="lazy"
      decoding="async"
    />
  );
}
